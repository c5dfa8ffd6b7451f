import Foundation
import TVPPipeline
import XCTest

/// A training's peak memory is its own: resetting the mark forgets an earlier, larger peak.
final class PeakMemoryTests: XCTestCase {
    func testResetForgetsAnEarlierPeak() throws {
        let bytes = 256 << 20
        let block = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
        block.initializeMemory(as: UInt8.self, repeating: 1, count: bytes)     // resident, not just reserved
        let withBlock = peakRSSMiB()
        block.deallocate()
        guard resetPeakRSS() else { throw XCTSkip("this system cannot reset the peak resident size (/proc/self/clear_refs)") }
        let afterReset = peakRSSMiB()
        XCTAssertLessThan(afterReset, withBlock - 128, "the 256 MiB block freed before the reset no longer counts")
        XCTAssertGreaterThan(afterReset, 0)
    }
}
