import Foundation

extension StageCache {
    /// The files of an entry folder that a run which never finished left behind: everything but the
    /// lock and the lease (temporary `*.tmp-PID-N` files of a write cut short, a payload or result without `done`).
    public func leftovers(in folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0 != StageCache.lockFile && $0 != StageCache.leaseFile }.sorted()
    }

    /// Removes what an unfinished run left in the entry folder of `key`, so the entry is recomputed
    /// from scratch, from the state in its work folder (kept) if the stage left any. Call it only
    /// while holding the entry's lock and only when `done` is absent.
    func removeLeftovers(of key: StageKey) throws {
        let folder = directory(for: key)
        for name in leftovers(in: folder) where name != StageCache.workFolder {
            do {
                try FileManager.default.removeItem(atPath: folder + "/" + name)
            } catch {
                throw PipelineError.cache(path: folder, message: "cannot remove '\(name)' left by an unfinished run: \(error.localizedDescription)")
            }
        }
    }
}
