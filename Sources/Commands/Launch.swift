import Foundation
import Numerics

/// What every executable does first (Sources/rgp*/main.swift).
public enum Launch {
    /// Relaunches this program with `OPENBLAS_CORETYPE` set when OpenBLAS fell back to kernels narrower than the CPU
    /// supports (`BLASKernels.betterCoreType`); returns normally otherwise (also when the variable is already set: the
    /// user's choice stands, and a relaunched process never relaunches again). OpenBLAS reads the variable only when
    /// it loads, hence a new process. Call first thing in `main`, before any output.
    public static func relaunchWithFittingKernelsIfNeeded() {
        let coreName = BLASKernels.coreName
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
              let better = BLASKernels.betterCoreType(than: coreName, on: .current) else { return }
        let note = "OpenBLAS chose its \(coreName) kernels, narrower than this CPU supports (it is newer than the "
            + "installed OpenBLAS knows); relaunching with OPENBLAS_CORETYPE=\(better). Set OPENBLAS_CORETYPE to override.\n"
        FileHandle.standardError.write(Data(note.utf8))
        setenv("OPENBLAS_CORETYPE", better, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // execv returned: it failed. Carry on with the slower kernels.
        FileHandle.standardError.write(Data("relaunch failed (\(String(cString: strerror(errno)))); continuing with \(coreName)\n".utf8))
    }
}
