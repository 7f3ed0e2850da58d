#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Thin wrappers so the kernels call libm without importing Foundation.
@inlinable @inline(__always) public func _log(_ x: Double) -> Double { log(x) }
@inlinable @inline(__always) public func _cos(_ x: Double) -> Double { cos(x) }
@inlinable @inline(__always) func _expf(_ x: Float) -> Float { expf(x) }
@inlinable @inline(__always) func _erff(_ x: Float) -> Float { erff(x) }
@inlinable @inline(__always) func _tanhf(_ x: Float) -> Float { tanhf(x) }
@inlinable @inline(__always) func _logf(_ x: Float) -> Float { logf(x) }
@inlinable @inline(__always) public func _exp(_ x: Double) -> Double { exp(x) }
