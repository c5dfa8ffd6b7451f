import Foundation
import TVPData
import TVPEngine
import TVPFormats

/// Split entries as paths on disk. An entry is a fetched file, or `FILE!MEMBER`: a member (or a
/// folder, ending in "/") of a fetched tar.gz or zip archive. An archive is unpacked once, whole,
/// into `FILE.contents/` beside it (written under a temporary name and renamed, so it is complete or
/// absent), and its members are read from there.
enum ArchiveMembers {
    /// The path of `entry` (`files` maps the fetched file names to their paths).
    static func path(of entry: SplitEntry, files: JSONValue, stage: String) throws -> String {
        guard let archive = files[entry.file]?.stringValue else {
            throw PipelineError.stage(stage, "the fetch stage did not produce '\(entry.file)'")
        }
        guard let member = entry.member else { return archive }
        guard isPlainRelativePath(member.hasSuffix("/") ? String(member.dropLast()) : member) else {
            throw PipelineError.stage(stage, "member '\(member)' of \(archive) is not a relative path inside the archive")
        }
        let root = try unpacked(archive, stage: stage)
        let path = (root as NSString).appendingPathComponent(member)
        guard FileManager.default.fileExists(atPath: path) else {
            throw PipelineError.stage(stage, "\(archive) has no member '\(member)'")
        }
        // A symbolic link among the unpacked files must not lead outside them.
        guard let realRoot = realPath(root), let realMember = realPath(path), realMember == realRoot || realMember.hasPrefix(realRoot + "/") else {
            throw PipelineError.stage(stage, "member '\(member)' of \(archive) leads outside the archive (through a symbolic link)")
        }
        return path
    }

    /// `path` with every symbolic link resolved (realpath(3)), or nil when it cannot be resolved.
    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The folder `archive` is unpacked into (unpacking it first if needed).
    static func unpacked(_ archive: String, stage: String) throws -> String {
        let target = archive + ".contents"
        let manager = FileManager.default
        if manager.fileExists(atPath: target) { return target }
        let temporary = archive + ".contents-\(UUID().uuidString)"
        try manager.createDirectory(atPath: temporary, withIntermediateDirectories: true)
        defer { try? manager.removeItem(atPath: temporary) }
        let lower = archive.lowercased()
        if lower.hasSuffix(".zip") {
            try unzip(archive, into: temporary, stage: stage)
        } else if lower.hasSuffix(".tar.gz") || lower.hasSuffix(".tgz") || lower.hasSuffix(".tar") {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["tar", "-xf", archive, "-C", temporary]
            let errors = Pipe()
            process.standardError = errors
            try process.run()
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw PipelineError.stage(stage, "cannot unpack \(archive) with tar: \(message.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
        } else {
            throw PipelineError.stage(stage, "\(archive) is not a .zip, .tar or .tar.gz archive")
        }
        do { try manager.moveItem(atPath: temporary, toPath: target) } catch where manager.fileExists(atPath: target) {
            // Another run unpacked it first.
        }
        return target
    }

    /// Writes every file of a zip archive under `folder` (names with `..` components are refused).
    static func unzip(_ archive: String, into folder: String, stage: String) throws {
        let zip = try ZipArchive(MappedFile(path: archive))
        for entry in zip.entries where !entry.name.hasSuffix("/") {
            guard isPlainRelativePath(entry.name) else {
                throw PipelineError.stage(stage, "\(archive): member '\(entry.name)' points outside the archive")
            }
            let path = (folder as NSString).appendingPathComponent(entry.name)
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let data = try zip.withContents(entry) { Data($0) }
            try data.write(to: URL(fileURLWithPath: path))
        }
    }
}
