import CKernels
import Foundation
import Numerics
import Synchronization
import Testing

/// Counts, per index, how often a region ran it, and which thread ran index 0.
private final class RegionLog: @unchecked Sendable {
    /// One slot per index, each written only by the thread running that index.
    let slots: UnsafeMutablePointer<Int>
    let count: Int
    var indexZeroOnCaller = true
    let caller = pthread_self()
    init(_ count: Int) {
        self.count = count
        slots = .allocate(capacity: count)
        slots.initialize(repeating: 0, count: count)
    }
    deinit { slots.deallocate() }
    var runs: [Int] { Array(UnsafeBufferPointer(start: slots, count: count)) }
}

@Suite("worker pool")
struct PoolTests {
    /// Runs one region on the pool directly; nil when the pool did not take it (another test's region was running).
    private func pooledRegion(_ count: Int) -> RegionLog? {
        let log = RegionLog(count)
        let taken = rgp_pool_run(count, { context, index in
            let log = Unmanaged<RegionLog>.fromOpaque(context!).takeUnretainedValue()
            log.slots[index] += 1
            if index == 0 { log.indexZeroOnCaller = pthread_equal(pthread_self(), log.caller) != 0 }
        }, Unmanaged.passUnretained(log).toOpaque())
        return taken != 0 ? log : nil
    }

    /// Runs one region on the pool, trying again while other tests' regions hold it (Swift Testing runs suites side by
    /// side, and a training test can hold the pool for most of a second); nil only if the pool stayed taken for 20 s.
    private func pooledRegionWaiting(_ count: Int) -> RegionLog? {
        let deadline = Date().addingTimeInterval(20)
        while true {
            if let log = pooledRegion(count) { return log }
            if Date() > deadline { return nil }
            usleep(50)
        }
    }

    @Test("every index of every region runs exactly once, index 0 on the caller; spinning and sleeping workers alike",
          .timeLimit(.minutes(1)))
    func regions() {
        for spin in [200_000, 0] {  // the default spin, then straight to sleep: every region wakes a sleeping worker
            rgp_pool_set_spin(spin)
            defer { rgp_pool_set_spin(200_000) }
            for region in 0..<1_500 {
                if region % 250 == 0 { usleep(300) }  // long enough for a spinning worker to go to sleep
                guard let log = pooledRegionWaiting(2) else {
                    Issue.record("region \(region), spin \(spin) ns: the pool stayed taken for 20 s")
                    return
                }
                #expect(log.runs == [1, 1], "region \(region), spin \(spin) ns")
                #expect(log.indexZeroOnCaller)
            }
        }
    }

    @Test("regions of every size run each index once; a region of one is never the pool's")
    func otherSizes() {
        #expect(pooledRegion(1) == nil)
        #expect(pooledRegionWaiting(3)?.runs == [1, 1, 1])
        #expect(pooledRegionWaiting(2)?.runs == [1, 1], "a smaller region after the pool grew")
        for count in [1, 2, 3, 5, 2] {
            let runs = Mutex([Int](repeating: 0, count: count))
            Parallel.concurrently(count) { index in runs.withLock { $0[index] += 1 } }
            #expect(runs.withLock { $0 } == [Int](repeating: 1, count: count), "\(count) iterations")
        }
    }

    @Test("regions from several threads at once: each runs all its indices (the pool takes one, libdispatch the others)",
          .timeLimit(.minutes(1)))
    func concurrentCallers() {
        let failures = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<2_000 {
                let runs = Mutex([0, 0])
                Parallel.concurrently(2) { index in runs.withLock { $0[index] += 1 } }
                if runs.withLock({ $0 }) != [1, 1] { failures.withLock { $0 += 1 } }
            }
        }
        #expect(failures.withLock { $0 } == 0)
    }
}
