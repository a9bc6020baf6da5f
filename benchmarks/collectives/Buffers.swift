#if canImport(Glibc)
import Glibc
#endif

/// Whether large buffers get the transparent-huge-page advice that numpy gives the mpi4py side.
///
/// numpy (Linux, kernel 4.6 or later) calls `madvise(MADV_HUGEPAGE)` on every array of 4 MiB or more
/// unless `NUMPY_MADVISE_HUGEPAGE=0`; with the kernel's THP mode `madvise` (Debian's default) only
/// such memory gets 2 MiB pages. Without the same advice here, the 8 MiB cases would compare page
/// sizes instead of bindings (measured: numpy's 8 MiB buffers had 12–14 MiB of `AnonHugePages` per
/// rank, Swift's none). The same environment variable turns it off on both sides.
let adviseHugePages = getenv("NUMPY_MADVISE_HUGEPAGE").map { String(cString: $0) } != "0"

/// An array of `count` copies of `value`, its memory advised as numpy advises the memory of its arrays.
func benchmarkBuffer<T: BitwiseCopyable>(repeating value: T, count: Int) -> [T] {
    [T](unsafeUninitializedCapacity: count) { buffer, initialized in
        // The advice must come before the first touch: pages already mapped stay small.
        if adviseHugePages { adviseHugePagesFor(UnsafeMutableRawBufferPointer(buffer)) }
        buffer.initialize(repeating: value)
        initialized = count
    }
}

/// numpy's rule (`npy_alloc_cache` → `indicate_hugepages`): 4 MiB or more, from the first page boundary.
private func adviseHugePagesFor(_ memory: UnsafeMutableRawBufferPointer) {
    guard memory.count >= 1 << 22, let base = memory.baseAddress else { return }
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    let start = (Int(bitPattern: base) + page - 1) / page * page
    let end = Int(bitPattern: base) + memory.count
    guard end > start, let pointer = UnsafeMutableRawPointer(bitPattern: start) else { return }
    // Advice only: if the kernel refuses, the buffer simply keeps small pages.
    _ = madvise(pointer, end - start, MADV_HUGEPAGE)
}
