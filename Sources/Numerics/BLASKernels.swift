import CBLAS

/// Which OpenBLAS kernels run, and a correction for CPUs newer than the installed OpenBLAS.
///
/// A `DYNAMIC_ARCH` OpenBLAS picks its kernels once, when the library loads, from the CPU's model number. Debian 12's
/// OpenBLAS 0.3.21 does not know CPUs released after it (Emerald Rapids, family 6 model 207, among them) and falls back
/// to its SSE3 "Prescott" kernels: sgemm ran at 50 GFLOP/s there against 260 with the AVX-512 kernels the CPU
/// supports. OpenBLAS honours `OPENBLAS_CORETYPE` only at load time, so the fix is to relaunch the program with it set.
public enum BLASKernels {
    /// The instruction sets that decide which OpenBLAS kernel family can run.
    public struct CPUFeatures: Sendable, Equatable {
        /// AVX-512 F, VL, BW, DQ and CD: what OpenBLAS's SkylakeX kernels need.
        public var avx512: Bool
        /// AVX2 with FMA: what its Haswell kernels need.
        public var avx2: Bool

        public init(avx512: Bool, avx2: Bool) {
            self.avx512 = avx512
            self.avx2 = avx2
        }

        /// This machine's CPU.
        public static var current: CPUFeatures {
            CPUFeatures(avx512: rgp_cpu_has_avx512_skylakex() != 0, avx2: rgp_cpu_has_avx2_fma() != 0)
        }
    }

    /// The kernel family OpenBLAS chose ("Prescott", "Haswell", "SkylakeX", …).
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    static let avx512Cores: Set<String> = ["skylakex", "cooperlake", "sapphirerapids"]
    static let avx2Cores: Set<String> = ["haswell", "zen", "skylake"]

    /// The `OPENBLAS_CORETYPE` to use instead of `chosen` on a CPU with `features`, or nil when `chosen` already uses
    /// the widest vectors the CPU has. AMD's "Zen" kernels are left alone: they are OpenBLAS's choice for those CPUs.
    public static func betterCoreType(than chosen: String, on features: CPUFeatures) -> String? {
        let core = chosen.lowercased()
        if avx512Cores.contains(core) { return nil }
        if features.avx512 && core != "zen" { return "SkylakeX" }
        if features.avx2 && !avx2Cores.contains(core) { return "Haswell" }
        return nil
    }
}
