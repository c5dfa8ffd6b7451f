import Foundation
import TVPFormats

/// What the `done` marker of a finished cache entry records (written last, atomically).
public struct CacheRecord: Sendable, Equatable {
    public var key: StageKey
    /// The id of the stage that computed the entry, and the ids of its inputs then.
    public var stageID: String
    public var kind: String
    public var inputIDs: [String]
    /// When the entry was finished, and how long the stage ran.
    public var finished: Date
    public var seconds: Double
    /// The seal of the entry: size and SHA-256 of each file it holds (payload, result, manifest), by
    /// file name, taken when the entry was written. Empty for entries written before seals existed.
    public var files: [String: FileSeal]

    var json: JSONValue {
        .object(["key": .string(key.hex), "id": .string(stageID), "kind": .string(kind),
                 "inputs": .array(inputIDs.map { .string($0) }),
                 "finished": .double(finished.timeIntervalSince1970), "seconds": .double(seconds),
                 "files": .object(files.mapValues { ["bytes": .integer($0.bytes), "sha256": .string($0.sha256)] })])
    }

    init(key: StageKey, stageID: String, kind: String, inputIDs: [String], finished: Date, seconds: Double, files: [String: FileSeal] = [:]) {
        self.key = key
        self.stageID = stageID
        self.kind = kind
        self.inputIDs = inputIDs
        self.finished = finished
        self.seconds = seconds
        self.files = files
    }

    init?(json: JSONValue) {
        guard let hex = json["key"]?.stringValue, let key = StageKey(hex: hex), let id = json["id"]?.stringValue,
              let kind = json["kind"]?.stringValue, let inputs = json["inputs"]?.arrayValue,
              let finished = json["finished"]?.doubleValue, let seconds = json["seconds"]?.doubleValue else { return nil }
        var files: [String: FileSeal] = [:]
        for (name, seal) in json["files"]?.objectValue ?? [:] {
            guard let bytes = seal["bytes"]?.intValue, let sha256 = seal["sha256"]?.stringValue else { return nil }
            files[name] = FileSeal(bytes: bytes, sha256: sha256)
        }
        self.init(key: key, stageID: id, kind: kind, inputIDs: inputs.compactMap(\.stringValue),
                  finished: Date(timeIntervalSince1970: finished), seconds: seconds, files: files)
    }
}

/// The content-addressed stage cache on disk:
///
/// ```
/// <root>/stages/<key[0..<2]>/<key>/manifest.json        canonical manifest (its SHA-256 is the key)
///                                  payload.safetensors  the output tensors (F32), when the stage stores any
///                                  result.json          the output document
///                                  done                 CacheRecord, written last: the entry is valid
///                                  lock                 flock(2) target while a run computes it
///                                  lease                the computing worker's claim, renewed until done
///                                  work/                a running stage's resumable state (unfinished entries only)
/// <root>/index/<sha256(stage id)>                       {"id","key"}: the last key computed for an id
/// ```
///
/// Every file is written to a temporary name and renamed into place, so a killed run leaves at most
/// an entry without `done`, which counts as absent and is recomputed (what it left there, temporary
/// files included, is removed first). Any number of processes may share one cache: `compute` holds
/// the entry's lock, so each key is computed once.
public final class StageCache: @unchecked Sendable {
    public static let manifestFile = "manifest.json"
    public static let payloadFile = "payload.safetensors"
    public static let resultFile = "result.json"
    public static let doneFile = "done"
    public static let lockFile = "lock"
    public static let leaseFile = "lease"
    public static let workFolder = "work"

    /// How long a computing worker's lease lasts without renewal before another worker takes the
    /// entry over (see `EntryLease`): `$TVP_LEASE_SECONDS`, else 60.
    public var leaseSeconds: Double = ProcessInfo.processInfo.environment["TVP_LEASE_SECONDS"].flatMap(Double.init).flatMap { $0 > 0 ? $0 : nil } ?? 60

    /// The cache folder.
    public let root: String

    /// Opens (creating it if needed) the cache at `root`; throws if it cannot be written.
    public init(root: String) throws {
        self.root = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root
        for folder in [self.root + "/stages", self.root + "/index"] {
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                throw PipelineError.cache(path: self.root, message: "cannot create \(folder): \(error.localizedDescription)")
            }
        }
        guard access(self.root + "/stages", W_OK) == 0 else {
            throw PipelineError.cache(path: self.root, message: "the folder is not writable; choose another cache folder")
        }
    }

    /// The entry folder of `key`.
    public func directory(for key: StageKey) -> String {
        "\(root)/stages/\(key.hex.prefix(2))/\(key.hex)"
    }

    /// The work folder of `key`'s entry (`StageContext.workDirectory`): what a stage keeps there
    /// survives a run that does not finish the entry, and goes when the entry is finished.
    public func workDirectory(for key: StageKey) -> String {
        directory(for: key) + "/" + StageCache.workFolder
    }

    /// Whether `key` has a finished entry: a `done` record that reads back and names the key (an
    /// entry whose record is damaged is unfinished, for `plan`, `cache ls` and the executor alike).
    /// Whether its files are still what was sealed is `damage(of:)`'s question.
    public func contains(_ key: StageKey) -> Bool {
        record(for: key)?.key == key
    }

    /// Whether `key` has an entry folder holding files of a run that never finished it (it failed
    /// or was killed while writing: a payload, result, manifest or temporary file without `done`).
    public func hasUnfinishedEntry(_ key: StageKey) -> Bool {
        !contains(key) && !leftovers(in: directory(for: key)).isEmpty
    }

    /// The `done` record of a finished entry, or nil.
    public func record(for key: StageKey) -> CacheRecord? {
        let path = directory(for: key) + "/" + StageCache.doneFile
        guard let text = try? readTextFile(path), let json = try? JSONValue.parse(text, source: path) else { return nil }
        return CacheRecord(json: json)
    }

    /// The stored manifest of `key`, or nil when the entry has none.
    public func manifest(for key: StageKey) throws -> StageManifest? {
        let path = directory(for: key) + "/" + StageCache.manifestFile
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try StageManifest(json: try JSONValue.parse(try readTextFile(path), source: path), source: path)
    }

    /// The stored output of `key`, loaded lazily.
    public func payload(for key: StageKey) -> StagePayload {
        StagePayload(key: key, directory: directory(for: key))
    }

    private func indexPath(forStageID id: String) -> String {
        "\(root)/index/\(sha256Hex(id))"
    }

    /// The key last computed (by any run on this cache) for the stage named `id`.
    public func lastKey(forStageID id: String) -> StageKey? {
        let path = indexPath(forStageID: id)
        guard let text = try? readTextFile(path), let json = try? JSONValue.parse(text, source: path),
              json["id"]?.stringValue == id, let hex = json["key"]?.stringValue else { return nil }
        return StageKey(hex: hex)
    }

    /// How `compute` got the entry.
    public enum ComputeOutcome: Sendable, Equatable {
        /// This call ran the stage, for this many seconds.
        case computed(seconds: Double)
        /// The entry was finished already, or another run finished it while this one waited.
        case foundFinished
    }

    /// Makes sure `manifest.key` has a finished entry: runs `body` under the entry's lock unless the
    /// entry is (or, after waiting for the lock, has become) finished, then stores its output,
    /// manifest and `done` record, and points the index of `stageID` at the key.
    public func compute(manifest: StageManifest, stageID: String, inputIDs: [String], onWait: () -> Void = {},
                        body: () throws -> StageOutput) throws -> ComputeOutcome {
        let key = manifest.key
        if contains(key) { return .foundFinished }
        let folder = directory(for: key)
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw PipelineError.cache(path: folder, message: "cannot create the entry folder: \(error.localizedDescription)")
        }
        // The flock first (same host; other hosts where the filesystem's locks work), then the lease
        // (other hosts where they do not, and hosts that died holding a lock): see `EntryLease`.
        let lock = FileLock(path: folder + "/" + StageCache.lockFile)
        let lease = EntryLease(path: folder + "/" + StageCache.leaseFile, seconds: leaseSeconds)
        var warned = false
        let warnOnce = { if !warned { warned = true; onWait() } }
        var watch = EntryLease.Watch()
        let locked = try lock.acquire(onWait: warnOnce, pollSeconds: lease.pollSeconds, giveUp: {
            contains(key) || watch.holderIsDead(EntryLease.read(lease.path), seconds: lease.seconds, holdingLock: false)
        })
        defer { lock.release() }
        if contains(key) { return .foundFinished }
        guard try lease.acquire(holdingLock: locked, isFinished: { contains(key) }, onWait: warnOnce) else { return .foundFinished }
        defer { lease.release() }
        if contains(key) { return .foundFinished }
        try removeLeftovers(of: key)
        lease.startHeartbeat()

        let start = Date()
        let output = try body()
        let seconds = Date().timeIntervalSince(start)
        if FileManager.default.fileExists(atPath: workDirectory(for: key)) {
            do { try FileManager.default.removeItem(atPath: workDirectory(for: key)) } catch {
                throw PipelineError.cache(path: folder, message: "cannot remove the finished stage's work folder: \(error.localizedDescription)")
            }
        }
        do {
            try output.payload?.write(to: folder + "/" + StageCache.payloadFile, stageID: stageID)
        } catch {
            throw PipelineError.cache(path: folder, message: "cannot write the payload: \(error)")
        }
        try writeTextFileAtomically(output.result.canonicalText, to: folder + "/" + StageCache.resultFile)
        try writeTextFileAtomically(manifest.canonicalText, to: folder + "/" + StageCache.manifestFile)
        let record = CacheRecord(key: key, stageID: stageID, kind: manifest.kind, inputIDs: inputIDs, finished: Date(), seconds: seconds,
                                 files: try seal(folder))
        try writeTextFileAtomically(record.json.canonicalText, to: folder + "/" + StageCache.doneFile)
        try pointIndex(ofStageID: stageID, at: key)
        return .computed(seconds: seconds)
    }

    /// Records `key` as the last key used for the stage named `id` (what `why` compares against).
    public func pointIndex(ofStageID id: String, at key: StageKey) throws {
        guard lastKey(forStageID: id) != key else { return }
        try writeTextFileAtomically(JSONValue.object(["id": .string(id), "key": .string(key.hex)]).canonicalText,
                                    to: indexPath(forStageID: id))
    }
}
