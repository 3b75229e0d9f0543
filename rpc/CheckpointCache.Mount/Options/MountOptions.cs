namespace CheckpointCache.Mount.Options;

/// <summary>The mount adapter's settings, bound from the "Mount" section (command line: --Mount:MountPoint=/mnt/ckpt).</summary>
public sealed class MountOptions
{
    public const string Section = "Mount";

    /// <summary>The local node: "unix:/var/lib/checkpointcache/node.sock" (or http://127.0.0.1:7400).</summary>
    public string Endpoint { get; set; } = "unix:data/node.sock";

    /// <summary>An existing empty directory to mount at.</summary>
    public string MountPoint { get; set; } = "";

    /// <summary>The files store (engine namespace of kind files) to mount.</summary>
    public string Store { get; set; } = "files";

    /// <summary>How long an operation waits and retries while the node is unreachable before it fails with EIO.</summary>
    public TimeSpan NodeRetryTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>FUSE worker threads (all kept alive: a new thread attaches to the runtime).</summary>
    public int Threads { get; set; } = 8;

    /// <summary>Largest FUSE read and write request; 1 MiB is the kernel's default limit (256 pages).</summary>
    public int MaxIoBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// Bytes a sequential direct_io reader (<see cref="CachedReads"/> off) gets ahead of its position (two windows of
    /// half this are in flight). Readers in the page cache get none of it: the kernel reads ahead for them
    /// (<see cref="KernelReadAheadKiB"/>), and each of its requests is fetched as it comes.
    /// </summary>
    public int ReadAheadBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>Written bytes per open file that may be on their way to the node while write() has already returned.</summary>
    public int WriteBehindBytes { get; set; } = 32 * 1024 * 1024;

    /// <summary>
    /// Take the shared read and write buffers in huge pages where enough are reserved (vm.nr_hugepages; whole pages
    /// only), ordinary pages otherwise. Under a hypervisor the node's first touch of each 4 KiB page the mount has just
    /// written can cost microseconds, which made up most of the node's CPU for mount writes (docs/performance.md).
    /// </summary>
    public bool HugePages { get; set; } = true;

    /// <summary>How long the kernel may cache attributes and names; writes through this mount keep its own cache exact.</summary>
    public TimeSpan AttributeTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Files opened read-only go through the kernel page cache (dropped at each open) instead of direct_io:
    /// the kernel then reads ahead with several requests in flight, and mmap works.
    /// </summary>
    public bool CachedReads { get; set; } = true;

    /// <summary>The kernel's read-ahead for this mount (the bdi's read_ahead_kb), set after mounting; 0 leaves the kernel default.</summary>
    public int KernelReadAheadKiB { get; set; } = 16 * 1024;

    /// <summary>Let other users than the one who mounted see the files (needs user_allow_other in /etc/fuse.conf unless root).</summary>
    public bool AllowOther { get; set; }
}
