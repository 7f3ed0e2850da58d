/// A float32 tensor in one contiguous row-major buffer with an explicit shape.
///
/// Tensors have reference semantics on purpose: they are preallocated buffers that kernels write into,
/// never values copied on every assignment. A view shares its owner's storage and keeps the owner alive.
public final class Tensor: @unchecked Sendable {
    /// Extent of each dimension, outermost first.
    public let shape: [Int]
    /// Number of elements (the product of `shape`).
    public let count: Int
    /// First element; `count` elements follow contiguously.
    public let data: UnsafeMutablePointer<Float>
    private let owner: Tensor?

    /// A zero-filled tensor of the given shape.
    public init(zeros shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in shape \(shape)")
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.data = .allocate(capacity: Swift.max(count, 1))
        self.data.initialize(repeating: 0, count: Swift.max(count, 1))
        self.owner = nil
    }

    /// A tensor holding `values` (row-major) in the given shape.
    public convenience init(shape: [Int], values: [Float]) {
        self.init(zeros: shape)
        precondition(values.count == count, "\(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    /// A tensor with every element equal to `value`.
    public convenience init(shape: [Int], repeating value: Float) {
        self.init(zeros: shape)
        data.update(repeating: value, count: count)
    }

    private init(viewOf owner: Tensor, offset: Int, shape: [Int]) {
        self.shape = shape
        self.count = shape.reduce(1, *)
        precondition(offset >= 0 && offset + count <= owner.count, "view out of range")
        self.data = owner.data + offset
        self.owner = owner
    }

    deinit {
        if owner == nil { data.deallocate() }
    }

    /// Whether this tensor shares another's storage.
    public var isView: Bool { owner != nil }

    /// A view of `count(shape)` elements starting at flat `offset`, sharing storage.
    public func view(offset: Int = 0, shape: [Int]) -> Tensor {
        Tensor(viewOf: self, offset: offset, shape: shape)
    }

    /// The same storage under another shape with the same element count.
    public func reshaped(_ shape: [Int]) -> Tensor {
        precondition(shape.reduce(1, *) == count, "cannot reshape \(self.shape) to \(shape)")
        return Tensor(viewOf: self, offset: 0, shape: shape)
    }

    /// Element at a flat row-major index.
    @inlinable public subscript(flat index: Int) -> Float {
        get { data[index] }
        set { data[index] = newValue }
    }

    /// A copy of the elements as an array (tests and I/O; not for hot paths).
    public var array: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// Sets every element to zero.
    public func zero() { data.update(repeating: 0, count: count) }

    /// Copies every element of `source`, which must have the same element count.
    public func copy(from source: Tensor) {
        precondition(source.count == count, "copy of \(source.shape) into \(shape)")
        data.update(from: source.data, count: count)
    }

    /// A fresh tensor with the same shape and values.
    public func clone() -> Tensor {
        let result = Tensor(zeros: shape)
        result.copy(from: self)
        return result
    }

    /// Extent of the last dimension (1 for a scalar).
    public var columns: Int { shape.last ?? 1 }
    /// Product of every extent but the last: the number of rows when viewed as a matrix.
    public var rows: Int { shape.dropLast().reduce(1, *) }
}

/// A buffer that grows to the largest size asked of it and is reused across steps and callers (a step allocates
/// nothing once warm).
public final class GrowingBuffer: @unchecked Sendable {
    private var tensor = Tensor(zeros: [0])
    public init() {}
    /// At least `count` floats (more when a larger size was asked for before); contents are not cleared.
    public func reserve(_ count: Int) -> Tensor {
        if tensor.count < count { tensor = Tensor(zeros: [count]) }
        return tensor
    }
}
