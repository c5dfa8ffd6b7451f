import Foundation
import TVPData
import TVPPipeline
import TVPPrompting

extension TVPRunCommand {
    public static let promptUsage = """
    Usage:
      tvp-run prompt import IN.pth OUT.safetensors
                                       convert an official TVP checkpoint ({"perturbation": [3, S, S]})
                                       to a tvp prompt file (the frame is read off the zero centre)
      tvp-run prompt export IN OUT.pth
                                       write a padding prompt as an official checkpoint that
                                       torch.load and transfer_cls.py --checkpoint read
      tvp-run prompt show IN OUT.png [--image SAMPLE]
                                       draw the prompt (values mapped to [0, 1] by min/max, as the
                                       paper's figures); with --image (PNG or JPEG), also the
                                       prompted sample beside it

    IN (export, show): a run folder's prompt-TASK-VARIANT.safetensors, a tvp prompt file, an
    official checkpoint, or a train[TASK/VARIANT] entry of the stage cache (its folder or its
    payload.safetensors; `tvp-run cache ls` lists them).
    """

    /// `tvp-run prompt`: 0 on success, 1 when a file cannot be read or written, 2 for a usage error.
    public static func runPrompt(_ args: [String]) -> Int32 {
        func fail(_ message: String, _ code: Int32) -> Int32 {
            FileHandle.standardError.write(Data("tvp-run prompt: \(message)\n".utf8))
            return code
        }
        guard let action = args.first else { return fail("missing action (import, export or show)\n\(promptUsage)", 2) }
        if ["--help", "-h", "help"].contains(action) {
            print(promptUsage)
            return 0
        }
        var positional: [String] = []
        var sample: String?
        var i = 1
        while i < args.count {
            if args[i] == "--image" {
                guard i + 1 < args.count else { return fail("--image needs a file", 2) }
                sample = args[i + 1]
                i += 2
            } else if args[i].hasPrefix("--") {
                return fail("unknown option '\(args[i])'\n\(promptUsage)", 2)
            } else {
                positional.append(args[i])
                i += 1
            }
        }
        guard positional.count == 2 else { return fail("'\(action)' takes an input and an output file\n\(promptUsage)", 2) }
        let (input, output) = (positional[0], positional[1])
        guard sample == nil || action == "show" else { return fail("--image applies to 'show' only", 2) }
        do {
            switch action {
            case "import":
                let prompt = try PromptFile.importOfficial(input)
                try PromptFile.save(prompt, to: output)
                print("\(output): padding prompt, \(prompt.imageSize) px, frame \(prompt.frame) (\(prompt.learnableCount) values)")
            case "export":
                let prompt = try PromptSource.load(input)
                try PromptFile.exportOfficial(prompt, to: output)
                print("\(output): official checkpoint, perturbation \(prompt.imageSize)×\(prompt.imageSize)")
            case "show":
                let prompt = try PromptSource.load(input)
                try PromptImage.writePNG(prompt, sample: sample.map(ImageFile.read), to: output)
                print("\(output): \(prompt.kind) prompt\(sample == nil ? "" : " and the prompted sample")")
            default:
                return fail("unknown action '\(action)' (import, export or show)", 2)
            }
        } catch {
            return fail("\(error)", 1)
        }
        return 0
    }
}
