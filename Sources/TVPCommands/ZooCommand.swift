import Foundation
import TVPData
import TVPFormats
import TVPModels
import TVPPrompting
import TVPZoo

extension TVPRunCommand {
    public static let zooUsage = """
    Usage:
      tvp-run zoo evaluate [--weights DIR] [--cache DIR] [--models A,B,…] [--count N] [--verbose]
                           [--descriptions]
                                       the zero-shot table of the zoo in DIR (default: the
                                       committed one); --verbose also prints how often each
                                       candidate was predicted and its true frequency, and
                                       each POPE question's answers by truth; --descriptions
                                       also asks the frozen language model the scene questions
                                       with each scene's true description in the image's place
                                       (what a perfect connector could at best hand it)

    The zoo is built by a pipeline file: `tvp-run Pipelines/zoo.yaml` (plan, why, dag, --set
    scale=tiny, --executor slurm apply to it as to any pipeline; see docs/zoo.md).
    """

    /// `tvp-run zoo evaluate`; exit 0 when evaluated, 1 when it failed, 2 for usage errors.
    public static func runZoo(_ args: [String]) -> Int32 {
        if args.first == "--help" || args.first == "-h" || args.isEmpty { print(zooUsage); return args.isEmpty ? 2 : 0 }
        if args.first == "evaluate" { return runZooEvaluate(Array(args.dropFirst())) }
        let hint = args[0] == "build" ? "; the zoo is built by its pipeline file: `tvp-run Pipelines/zoo.yaml`" : "; the zoo command is evaluate"
        FileHandle.standardError.write(Data("tvp-run zoo: unknown zoo command '\(args[0])'\(hint) (tvp-run zoo --help)\n".utf8))
        return 2
    }

    /// `tvp-run zoo evaluate`: the zero-shot table of a built zoo.
    static func runZooEvaluate(_ args: [String]) -> Int32 {
        func fail(_ message: String, _ code: Int32 = 2) -> Int32 {
            FileHandle.standardError.write(Data("tvp-run zoo evaluate: \(message)\n".utf8))
            return code
        }
        var weights = Zoo.defaultWeightsDirectory(), fetcher = Fetcher(), models = Zoo.modelNames, count = 200, verbose = false
        var rest = args
        if rest.contains("--help") || rest.contains("-h") { print(zooUsage); return 0 }
        if let i = rest.firstIndex(of: "--verbose") { verbose = true; rest.remove(at: i) }
        var descriptions = false
        if let i = rest.firstIndex(of: "--descriptions") { descriptions = true; rest.remove(at: i) }
        let problem = parseOptions(rest) { name, value in
            switch name {
            case "--weights": weights = value
            case "--cache": fetcher.cacheDirectory = value
            case "--count": guard let n = Int(value), n > 0 else { return "--count takes a positive whole number" }; count = n
            case "--models":
                models = value.split(separator: ",").map(String.init)
                if let bad = models.first(where: { !Zoo.modelNames.contains($0) }) { return "unknown zoo model '\(bad)'" }
            default: return "unknown option '\(name)'"
            }
            return nil
        }
        if let problem { return fail(problem) }
        do {
            let zoo = try Zoo.load(assets: fetcher.assetsDirectory, weights: weights, names: models)
            let scenes = (fetcher.cacheDirectory as NSString).appendingPathComponent("zoo-evaluate/renders-seed0/\(count / 2)-scenes")
            let tasks = try Zoo.evaluationTasks(assets: fetcher.assetsDirectory, sceneRoot: scenes, count: count, scenes: count / 2)
            var report = ZooBuildReport()
            for model in zoo.models {
                for task in tasks {
                    let predicted = try Zoo.zeroShotPredictions(model, task: task)
                    let right = zip(predicted, task.samples).filter { task.candidates[$0] == $1.answer }.count
                    report.zeroShot.append(ZooZeroShot(model: model.name, dataset: task.name, accuracy: Double(right) / Double(predicted.count), chance: task.chance))
                    print(String(format: "%@ on %@: %.1f%%", model.name, task.name, 100 * Double(right) / Double(predicted.count)))
                    if verbose {
                        for (c, candidate) in task.candidates.enumerated() {
                            print("    \(candidate): predicted \(predicted.filter { $0 == c }.count), true \(task.samples.filter { $0.answer == candidate }.count)")
                        }
                        printPerQuestion(task: task, predicted: predicted)
                    }
                }
            }
            print("\n" + report.zeroShotTable)
            if descriptions, let model = zoo.models.first { try printDescriptionReference(model, tasks: tasks, verbose: verbose) }
            return 0
        } catch {
            return fail("\(error)", 1)
        }
    }

    /// The frozen LM's answers from each scene's true description (`Zoo.descriptionScores`): accuracy
    /// and, for yes/no tasks, the ROC-AUC of the yes − no score (how well it separates the answers
    /// whatever its bias).
    static func printDescriptionReference(_ model: ComposedMLLM, tasks: [ZooEvaluationTask], verbose: Bool) throws {
        print("\nThe frozen language model with each scene's true description in the image's place:")
        for task in tasks where task.set.name == "clevr" {   // a class caption would name the answer
            guard let scores = try Zoo.descriptionScores(model, task: task) else { continue }
            let predicted = scores.map { row in row.indices.reduce(0) { row[$1] > row[$0] ? $1 : $0 } }   // argmax, the first on ties
            let right = zip(predicted, task.samples).filter { task.candidates[$0] == $1.answer }.count
            var line = String(format: "  %@: %.1f%% (chance %.1f%%)", task.name, 100 * Double(right) / Double(task.samples.count), 100 * task.chance)
            if let yes = task.candidates.firstIndex(of: "yes"), let no = task.candidates.firstIndex(of: "no"), task.candidates.count == 2,
               let auc = Metrics.rocAUC(scores: scores.map { Double($0[yes]) - Double($0[no]) }, positives: task.samples.map { $0.answer == "yes" }) {
                line += String(format: "; ROC-AUC of yes − no %.3f", auc)
            }
            print(line)
            if verbose { printPerQuestion(task: task, predicted: predicted) }
        }
    }

    /// For a task asking several questions (POPE's probes), each question's accuracy and, per true
    /// answer, what was predicted: a model answering by the wording shows the same prediction whatever the truth.
    static func printPerQuestion(task: ZooEvaluationTask, predicted: [Int]) {
        let questions = Array(Set(task.samples.map(\.question))).sorted()
        guard questions.count > 1 else { return }
        for question in questions {
            let asked = zip(task.samples, predicted).filter { $0.0.question == question }
            let right = asked.filter { task.candidates[$0.1] == $0.0.answer }.count
            let byTruth = task.candidates.map { truth in
                "true \(truth) → " + task.candidates.enumerated().map { c, name in
                    "\(name) \(asked.filter { $0.0.answer == truth && $0.1 == c }.count)"
                }.joined(separator: ", ")
            }
            print("    \(question) right \(right)/\(asked.count); " + byTruth.joined(separator: "; "))
        }
    }
}
