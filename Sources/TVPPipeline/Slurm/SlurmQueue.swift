import Foundation

/// One line of `squeue -h -r -o '%i|%T|%r'`: a job, or one task of an array job.
public struct QueueEntry: Sendable, Equatable {
    public var jobID: String
    /// The array task, nil for a plain job.
    public var task: Int?
    /// `PENDING`, `RUNNING`, `COMPLETING`, …
    public var state: String
    /// Why it waits (`Dependency`, `Resources`, `JobArrayTaskLimit`, `None`).
    public var reason: String

    /// Parses the whole output; pending array ranges (`12_[3-5,8%2]`) become one entry per task.
    public static func parse(_ output: String) -> [QueueEntry] {
        var entries: [QueueEntry] = []
        for line in output.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count >= 2, !fields[0].isEmpty else { continue }
            let id = fields[0], state = fields[1], reason = fields.count > 2 ? fields[2] : ""
            guard let underscore = id.firstIndex(of: "_") else {
                entries.append(QueueEntry(jobID: id, task: nil, state: state, reason: reason))
                continue
            }
            let job = String(id[..<underscore])
            var tasks = String(id[id.index(after: underscore)...])
            if tasks.hasPrefix("[") { tasks = String(tasks.dropFirst().prefix { $0 != "]" }) }
            if let percent = tasks.firstIndex(of: "%") { tasks = String(tasks[..<percent]) }
            for part in tasks.split(separator: ",") {
                let bounds = part.split(separator: "-").compactMap { Int($0) }
                guard let low = bounds.first else { continue }
                for task in low...(bounds.count > 1 ? max(low, bounds[1]) : low) {
                    entries.append(QueueEntry(jobID: job, task: task, state: state, reason: reason))
                }
            }
        }
        return entries
    }
}

/// Runs the Slurm commands (`sbatch`, `squeue`, `scancel`) as child processes.
public enum SlurmCommand {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Runs `program` (found on PATH) with `arguments`; returns stdout, or throws with stderr.
    public static func run(_ program: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [program] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        do { try process.run() } catch {
            throw Failure(description: "cannot run \(program): \(error.localizedDescription)")
        }
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = String(decoding: errors, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw Failure(description: process.terminationStatus == 127
                ? "\(program) is not installed here (is this a Slurm login node?)"
                : "\(([program] + arguments).joined(separator: " ")) failed (exit \(process.terminationStatus)): \(message)")
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// `sbatch --parsable [--dependency=afterok:ID] SCRIPT`: the new job's id.
    static func submit(_ script: String, after dependency: String?) throws -> String {
        let output = try run("sbatch", ["--parsable"] + (dependency.map { ["--dependency=afterok:\($0)"] } ?? []) + [script])
        let id = output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ";").first.map(String.init) ?? ""
        guard !id.isEmpty, id.allSatisfy(\.isNumber) else { throw Failure(description: "sbatch printed no job id: '\(output)'") }
        return id
    }

    /// This user's queue (one entry per array task), or nil with the reason when squeue fails.
    public static func queue() -> Result<[QueueEntry], Failure> {
        do {
            return .success(QueueEntry.parse(try run("squeue", ["-h", "-r", "-u", NSUserName(), "-o", "%i|%T|%r"])))
        } catch let failure as Failure {
            return .failure(failure)
        } catch {
            return .failure(Failure(description: "\(error)"))
        }
    }
}
