import Foundation
import TVPEngine
import TVPPipeline
import XCTest

/// The lease of a cache entry (`StageCache.compute`): a worker on another node whose `flock` is not
/// visible here, alive (it renews) or dead (it stopped), and a dead holder whose lock is stuck.
final class EntryLeaseTests: XCTestCase {
    var root = ""
    var cache: StageCache!
    let manifest = StageManifest(kind: "k", parameters: ["n": 1], inputKeys: [], assets: [:], code: "1")
    var folder: String { cache.directory(for: manifest.key) }
    var leasePath: String { folder + "/" + StageCache.leaseFile }

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "tvp-lease-\(UUID().uuidString)"
        cache = try StageCache(root: root)
        cache.leaseSeconds = 0.4
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: root) }

    func writeLease(host: String, pid: Int32, renewals: Int) throws {
        try "{\"host\":\"\(host)\",\"owner\":\"\(host):\(pid):1\",\"pid\":\(pid),\"renewals\":\(renewals)}"
            .write(toFile: leasePath, atomically: true, encoding: .utf8)
    }

    func compute(_ ran: inout Bool) throws -> StageCache.ComputeOutcome {
        try cache.compute(manifest: manifest, stageID: "s", inputIDs: []) {
            ran = true
            return StageOutput(result: ["ok": true])
        }
    }

    func testADeadWorkersLeaseOnAnotherNodeIsTakenOverOnceItStopsChanging() throws {
        try writeLease(host: "other-node", pid: 4242, renewals: 7)
        let start = Date()
        var ran = false
        let outcome = try compute(&ran)
        let waited = Date().timeIntervalSince(start)
        XCTAssertTrue(ran)
        XCTAssertNotEqual(outcome, .foundFinished)
        XCTAssertGreaterThanOrEqual(waited, 0.4, "the lease had to stay unchanged for a whole lease time")
        XCTAssertLessThan(waited, 5)
        XCTAssertTrue(cache.contains(manifest.key))
        XCTAssertFalse(FileManager.default.fileExists(atPath: leasePath), "the lease is removed when the entry is done")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder).sorted(),
                       ["done", "lock", "manifest.json", "result.json"], "a stage that stores no tensors has no payload file")
    }

    func testALiveWorkersLeaseIsWaitedForAndItsResultUsed() throws {
        try writeLease(host: "other-node", pid: 4242, renewals: 0)
        let key = manifest.key
        let finisher = Thread { [leasePath, folder] in
            // The other node renews every 0.1 s for 1.2 s (three lease times), then finishes the entry.
            for renewal in 1...12 {
                usleep(100_000)
                try? "{\"host\":\"other-node\",\"owner\":\"other-node:4242:1\",\"pid\":4242,\"renewals\":\(renewal)}"
                    .write(toFile: leasePath, atomically: true, encoding: .utf8)
            }
            // A finished entry's record names its key (an unreadable record would leave it unfinished).
            let record = "{\"key\":\"\(key.hex)\",\"id\":\"s\",\"kind\":\"k\",\"inputs\":[],\"finished\":0,\"seconds\":0}"
            FileManager.default.createFile(atPath: folder + "/" + StageCache.doneFile, contents: Data(record.utf8))
            try? FileManager.default.removeItem(atPath: leasePath)
        }
        finisher.start()
        let start = Date()
        var ran = false
        let outcome = try compute(&ran)
        XCTAssertFalse(ran, "a live lease is never taken over")
        XCTAssertEqual(outcome, .foundFinished)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), 1.1)
    }

    func testALeaseOfAGoneProcessOfThisHostIsTakenOverAtOnce() throws {
        cache.leaseSeconds = 60
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        try writeLease(host: ProcessInfo.processInfo.hostName, pid: gone.processIdentifier, renewals: 3)
        let start = Date()
        var ran = false
        _ = try compute(&ran)
        XCTAssertTrue(ran)
        XCTAssertLessThan(Date().timeIntervalSince(start), 5, "no need to wait out a 60 s lease of a dead local process")
    }

    func testALockStuckWithADeadHolderIsPassedOnceItsLeaseExpires() throws {
        // A lock that nobody will release (as an NFSv3 lock of a node that died): held by a child
        // process that sleeps, while the lease it would renew stays unchanged.
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/flock") else { throw XCTSkip("no /usr/bin/flock (util-linux)") }
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        holder.arguments = [folder + "/" + StageCache.lockFile, "sleep", "3"]
        try holder.run()
        defer { holder.terminate(); holder.waitUntilExit() }
        usleep(300_000)
        try writeLease(host: "dead-node", pid: 99, renewals: 1)
        let start = Date()
        var ran = false
        _ = try compute(&ran)
        XCTAssertTrue(ran)
        XCTAssertLessThan(Date().timeIntervalSince(start), 10)
    }
}
