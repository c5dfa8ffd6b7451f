import Foundation
import TVPData
import TVPTestSupport
import XCTest

/// The repository's datasets.manifest, found from this file's path.
let repositoryManifestPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("datasets.manifest").path

/// A fresh temporary folder, removed by `tearDown` of the test that made it.
func makeTemporaryFolder(_ tag: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("tvp-\(tag)-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Writes `bytes` to `path`, creating folders.
func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

func readFile(_ path: String) -> [UInt8]? {
    FileManager.default.contents(atPath: path).map { [UInt8]($0) }
}

/// Records what a fake command runner and the fetcher's log saw (the runner runs synchronously).
final class Recorder: @unchecked Sendable {
    private let lock = NSLock()
    private var _requests: [CommandRequest] = []
    private var _lines: [String] = []

    var requests: [CommandRequest] { lock.withLock { _requests } }
    var lines: [String] { lock.withLock { _lines } }
    var log: String { lines.joined(separator: "\n") }

    func add(_ request: CommandRequest) { lock.withLock { _requests.append(request) } }
    func add(line: String) { lock.withLock { _lines.append(line) } }
}

extension CommandRequest {
    /// The value after `option` in the arguments (e.g. "--dest", "-o").
    func value(after option: String) -> String? {
        guard let index = arguments.firstIndex(of: option), index + 1 < arguments.count else { return nil }
        return arguments[index + 1]
    }
}

/// A ZIP archive of stored (uncompressed) entries, as a wheel would be if nothing were compressed.
func storedZip(_ entries: [(name: String, bytes: [UInt8])]) -> [UInt8] {
    HostileBytes.zip(entries.map { ($0.name, $0.bytes) })
}

/// A one-asset manifest naming the asset `demo`, with `files` the YAML under its `files:` key
/// (file keys indented 6 spaces), written into `folder`; returns the loaded asset.
func demoAsset(in folder: String, files: String) throws -> Asset {
    let text = """
    version: 1
    assets:
      demo:
        kind: dataset
        licence: MIT
        citation: test
        loader: image-file
        files:
    \(files)
    """
    let path = (folder as NSString).appendingPathComponent("demo.manifest")
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return try Manifest.load(path: path).asset(named: "demo")
}

/// Files in `folder` (recursively) whose names contain `.partial-`.
func partialFiles(under folder: String) -> [String] {
    (FileManager.default.enumerator(atPath: folder)?.allObjects as? [String] ?? []).filter { $0.contains(".partial-") }
}
