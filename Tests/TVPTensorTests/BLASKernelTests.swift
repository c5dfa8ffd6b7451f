import TVPTensor
import XCTest

final class BLASKernelTests: XCTestCase {
    static let avx512 = "processor\t: 0\nflags\t\t: fpu sse3 avx avx2 fma avx512f avx512dq avx512bw avx512vl\nbugs\t\t: spectre_v1\n"
    static let avx2 = "processor\t: 0\nflags\t\t: fpu sse3 avx avx2 fma\n"

    /// Only OpenBLAS's generic fallback is replaced, by the best kernel the CPU's flags allow.
    func testTheGenericKernelIsReplacedByWhatTheCPUCanRun() {
        XCTAssertEqual(BLASKernel.cpuFlags(cpuinfo: Self.avx2), ["fpu", "sse3", "avx", "avx2", "fma"])
        XCTAssertEqual(BLASKernel.cpuFlags(cpuinfo: "no flags here"), [])
        XCTAssertEqual(BLASKernel.cpuFlags(cpuinfo: nil), [])
        XCTAssertEqual(BLASKernel.betterCoreType(coreName: "Prescott", cpuFlags: BLASKernel.cpuFlags(cpuinfo: Self.avx512)), "SkylakeX")
        XCTAssertEqual(BLASKernel.betterCoreType(coreName: "Prescott", cpuFlags: BLASKernel.cpuFlags(cpuinfo: Self.avx2)), "Haswell")
        XCTAssertNil(BLASKernel.betterCoreType(coreName: "Prescott", cpuFlags: ["sse3", "avx"]), "nothing better to run")
        XCTAssertNil(BLASKernel.betterCoreType(coreName: "Haswell", cpuFlags: BLASKernel.cpuFlags(cpuinfo: Self.avx512)), "OpenBLAS's own choice stands")
        XCTAssertNil(BLASKernel.betterCoreType(coreName: "Zen", cpuFlags: BLASKernel.cpuFlags(cpuinfo: Self.avx2)))
        XCTAssertFalse(BLASKernel.coreName.isEmpty)
    }

    func testTvpRunPinsOneKernelOnEveryAVX2CPUUnlessAskedOtherwise() {
        let avx512 = BLASKernel.cpuFlags(cpuinfo: Self.avx512), avx2 = BLASKernel.cpuFlags(cpuinfo: Self.avx2)
        // Default: the reproducible kernel, whatever OpenBLAS chose.
        XCTAssertEqual(BLASKernel.restartCoreType(environment: [:], coreName: "SkylakeX", cpuFlags: avx512), "Haswell")
        XCTAssertEqual(BLASKernel.restartCoreType(environment: [:], coreName: "Zen", cpuFlags: avx2), "Haswell")
        XCTAssertEqual(BLASKernel.restartCoreType(environment: [:], coreName: "Prescott", cpuFlags: avx512), "Haswell")
        XCTAssertNil(BLASKernel.restartCoreType(environment: [:], coreName: "Haswell", cpuFlags: avx512), "already running it")
        XCTAssertNil(BLASKernel.restartCoreType(environment: [:], coreName: "Prescott", cpuFlags: ["sse3", "avx"]), "cannot run it")
        // The user's OPENBLAS_CORETYPE always stands.
        XCTAssertNil(BLASKernel.restartCoreType(environment: ["OPENBLAS_CORETYPE": "SkylakeX"], coreName: "SkylakeX", cpuFlags: avx512))
        // TVP_BLAS=fastest: OpenBLAS's own choice, or the best kernel where it fell back to the generic one.
        XCTAssertNil(BLASKernel.restartCoreType(environment: ["TVP_BLAS": "fastest"], coreName: "SkylakeX", cpuFlags: avx512))
        XCTAssertEqual(BLASKernel.restartCoreType(environment: ["TVP_BLAS": "fastest"], coreName: "Prescott", cpuFlags: avx512), "SkylakeX")
        XCTAssertTrue(BLASKernel.wantsFastest(environment: ["TVP_BLAS": "Fastest"]))
        XCTAssertFalse(BLASKernel.wantsFastest(environment: [:]))
    }
}
