import Foundation

/// An external program to run: `pip`, `apt-get`, `dpkg-deb`, `curl`.
public struct CommandRequest: Equatable, Sendable, CustomStringConvertible {
    /// A program name looked up on PATH (or an absolute path).
    public var executable: String
    public var arguments: [String]
    /// The working directory.
    public var directory: String

    public init(executable: String, arguments: [String], directory: String) {
        self.executable = executable
        self.arguments = arguments
        self.directory = directory
    }

    /// The command line as a person would type it (for progress and error messages).
    public var description: String { ([executable] + arguments).joined(separator: " ") }
}

/// How a program ended: its exit status and its standard output and error, interleaved.
public struct CommandResult: Equatable, Sendable {
    public var status: Int32
    public var output: String

    public init(status: Int32, output: String) {
        self.status = status
        self.output = output
    }

    /// The last `count` non-empty lines of the output, for error messages.
    public func lastLines(_ count: Int = 3) -> String {
        output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            .suffix(count).joined(separator: " | ")
    }
}

/// Runs a command and waits for it. The fetcher calls programs only through this, so tests can stand in
/// for pip, apt-get, dpkg-deb and curl with a function that writes prepared files.
public typealias CommandRunner = @Sendable (CommandRequest) throws -> CommandResult

/// The program is not installed (not found on PATH).
public struct CommandNotFound: Error, CustomStringConvertible, Equatable {
    public let executable: String
    public var description: String { "'\(executable)' is not installed (not found on PATH)" }
}

/// The real runner: `Process`, output captured, PATH searched first so a missing program is a clear error.
public enum ProcessRunner {
    public static let run: CommandRunner = { request in
        guard let executable = find(request.executable) else { throw CommandNotFound(executable: request.executable) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = request.arguments
        process.currentDirectoryURL = URL(fileURLWithPath: request.directory)
        process.standardInput = FileHandle.nullDevice
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        // Read before waiting: a child that fills the pipe would otherwise block forever.
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CommandResult(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }

    /// The absolute path of `name` on PATH (or `name` itself when it contains a "/" and is executable).
    public static func find(_ name: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = String(directory) + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
