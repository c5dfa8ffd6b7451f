import Foundation
import TVPPipeline

// OpenBLAS falls back to its generic kernel on a CPU newer than itself; it reads OPENBLAS_CORETYPE
// only when it loads, so restart with the kernel this CPU can run (BLASKernel says why).
if ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil, let core = BLASKernel.betterCoreType() {
    FileHandle.standardError.write(Data("tvp-run: OpenBLAS does not know this CPU and chose its generic \(BLASKernel.coreName) kernel; restarting with OPENBLAS_CORETYPE=\(core)\n".utf8))
    setenv("OPENBLAS_CORETYPE", core, 1)
    execv("/proc/self/exe", CommandLine.unsafeArgv)       // returns only when the restart failed: go on as we are
}

// The real model families (llava, blip2, instructblip, the zoo), trained and evaluated by
// TVPPrompting's PromptTrainer and Evaluator.
TVPRunCommand.backend.set { PromptingBackend() }
exit(TVPRunCommand.main(Array(CommandLine.arguments.dropFirst())))
