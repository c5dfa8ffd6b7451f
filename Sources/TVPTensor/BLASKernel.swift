import CBLAS
import Foundation

/// Which OpenBLAS kernel runs: by default one kernel on every x86-64 machine, for reproducible
/// numbers (`reproducibleCoreType`), and on request the fastest (`TVP_BLAS=fastest`).
///
/// OpenBLAS as Debian ships it (DYNAMIC_ARCH) picks its kernels from the CPU model when it loads; a
/// model newer than the library falls back to the generic SSE3 kernel "Prescott". OpenBLAS 0.3.21
/// does not know Intel's Emerald Rapids (family 6, model 207), and there its sgemm reaches 63
/// GFLOP/s on two cores instead of 257 with the AVX-512 kernel (`tvp-run bench`, 2026-11-27): every
/// training run 4–5× slower. The kernel can only be chosen before the library loads, through the
/// environment variable OPENBLAS_CORETYPE, so `tvp-run` restarts itself with the better one
/// (`Sources/tvp-run/main.swift`) and `scripts/test` exports it (`tvp-run blas --coretype`).
public enum BLASKernel {
    /// OpenBLAS's name of the kernel in use, e.g. "Haswell", "SkylakeX", "Prescott".
    public static var coreName: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    /// The OPENBLAS_CORETYPE to load instead of the generic fallback "Prescott": "SkylakeX" when the
    /// CPU has AVX-512 F, BW, DQ and VL, "Haswell" when it has AVX2 and FMA; nil when OpenBLAS chose
    /// another kernel itself or the CPU has nothing better.
    public static func betterCoreType(coreName: String = coreName, cpuFlags: Set<String> = cpuFlags()) -> String? {
        guard coreName.lowercased() == "prescott" else { return nil }
        if cpuFlags.isSuperset(of: ["avx512f", "avx512bw", "avx512dq", "avx512vl"]) { return "SkylakeX" }
        if cpuFlags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }

    /// The kernel every x86-64 machine with AVX2 and FMA can run, and so the one that makes a
    /// pipeline's numbers the same on all of them: OpenBLAS's kernels round differently (AVX-512's
    /// SkylakeX blocks and accumulates sgemm otherwise than Haswell's AVX2 kernel, which AMD's Zen
    /// also uses; Cooperlake on AVX-512 AMD EPYCs), and prompt training amplifies the last bits into
    /// different prompts and tables.
    public static let reproducibleCoreType = "Haswell"

    /// Whether the user asked for the fastest kernel instead of the reproducible one (`TVP_BLAS=fastest`).
    public static func wantsFastest(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        environment["TVP_BLAS"]?.lowercased() == "fastest"
    }

    /// The OPENBLAS_CORETYPE `tvp-run` restarts with, or nil to keep the loaded kernel: none when the
    /// user set OPENBLAS_CORETYPE; with `TVP_BLAS=fastest`, `betterCoreType` (only where OpenBLAS fell
    /// back to its generic kernel); otherwise the reproducible kernel, on any CPU that has AVX2 and
    /// FMA and is not already running it.
    public static func restartCoreType(environment: [String: String] = ProcessInfo.processInfo.environment,
                                       coreName: String = coreName, cpuFlags: Set<String> = cpuFlags()) -> String? {
        guard environment["OPENBLAS_CORETYPE"] == nil else { return nil }
        if wantsFastest(environment: environment) { return betterCoreType(coreName: coreName, cpuFlags: cpuFlags) }
        guard coreName.lowercased() != reproducibleCoreType.lowercased(), cpuFlags.isSuperset(of: ["avx2", "fma"]) else { return nil }
        return reproducibleCoreType
    }

    /// What a cached numeric result depends on besides its inputs: "" for the reproducible kernel,
    /// else "+blas=NAME" (stage keys carry it, so results of another kernel are never served to a
    /// reproducible run, nor the other way round).
    public static var cacheTag: String {
        coreName.lowercased() == reproducibleCoreType.lowercased() ? "" : "+blas=\(coreName)"
    }

    /// The CPU's feature flags: the first `flags` line of /proc/cpuinfo (empty where there is none).
    public static func cpuFlags(cpuinfo: String? = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) -> Set<String> {
        guard let line = cpuinfo?.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }
}
