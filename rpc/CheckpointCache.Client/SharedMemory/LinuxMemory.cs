using System.ComponentModel;
using System.Runtime.InteropServices;

namespace CheckpointCache.Client.SharedMemory;

/// <summary>
/// The Linux calls behind shared buffers: sealed memfds, their mappings, and descriptor passing over a Unix
/// socket (SCM_RIGHTS), which .NET's Socket does not expose. x86-64 and arm64 share these layouts.
/// </summary>
public static unsafe partial class LinuxMemory
{
    private const int MfdCloexec = 0x0001;
    private const int MfdAllowSealing = 0x0002;
    private const uint MfdHugetlb = 0x0004;
    private const int FAddSeals = 1033;
    private const int FGetSeals = 1034;

    /// <summary>F_SEAL_SHRINK: nobody can make the file smaller, so a mapping of it can never fault past its end.</summary>
    public const int SealShrink = 0x0002;

    private const int ProtRead = 0x1, ProtWrite = 0x2, MapShared = 0x01;
    private const int SolSocket = 1, ScmRights = 1;
    private const int MsgCmsgCloexec = 0x40000000;
    private const int MsgNoSignal = 0x4000;
    private const short PollIn = 0x1, PollOut = 0x4;
    private const int EAgain = 11, EIntr = 4;

    [LibraryImport("libc", EntryPoint = "memfd_create", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MemfdCreate(string name, uint flags);

    [LibraryImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    private static partial int Ftruncate(int fd, long length);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command, int argument);

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    private static partial long Lseek(int fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, long offset);

    [LibraryImport("libc", EntryPoint = "fstatfs", SetLastError = true)]
    private static partial int Fstatfs(int fd, byte* buffer);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static partial int Munmap(nint address, nuint length);

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int Madvise(nint address, nuint length, int advice);

    /// <summary>MADV_POPULATE_WRITE (Linux 5.14).</summary>
    private const int MadvPopulateWrite = 23;

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "sendmsg", SetLastError = true)]
    private static partial nint SendMsg(int fd, MessageHeader* message, int flags);

    [LibraryImport("libc", EntryPoint = "recvmsg", SetLastError = true)]
    private static partial nint RecvMsg(int fd, MessageHeader* message, int flags);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static partial int Poll(PollFd* fds, nuint count, int timeoutMs);

    [StructLayout(LayoutKind.Sequential)]
    private struct IoVector
    {
        public void* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct MessageHeader
    {
        public void* Name;
        public uint NameLength;
        public IoVector* Vectors;
        public nuint VectorCount;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Returned;
    }

    /// <summary>cmsghdr (len, level, type) then one int, padded to 8: CMSG_SPACE(sizeof(int)).</summary>
    private const int ControlBytes = 24;
    private const int ControlLengthOneFd = 20;

    private static Win32Exception Failure(string call) => new(Marshal.GetLastPInvokeError(), $"{call}: {Marshal.GetLastPInvokeErrorMessage()}");

    /// <summary>
    /// A memfd of <paramref name="bytes"/> bytes sealed against shrinking; the caller owns the descriptor. With
    /// <paramref name="hugePages"/> it lies in the system's default huge pages (hugetlbfs), and <paramref name="bytes"/>
    /// must be a whole number of them.
    /// </summary>
    public static int CreateSealedMemfd(string name, long bytes, bool hugePages = false)
    {
        int fd = MemfdCreate(name, MfdCloexec | MfdAllowSealing | (hugePages ? MfdHugetlb : 0u));
        if (fd < 0) throw Failure("memfd_create");
        try
        {
            if (Ftruncate(fd, bytes) != 0) throw Failure("ftruncate");
            if (Fcntl(fd, FAddSeals, SealShrink) != 0) throw Failure("fcntl(F_ADD_SEALS)");
            return fd;
        }
        catch
        {
            Close(fd);
            throw;
        }
    }

    /// <summary>
    /// The page size of <paramref name="fd"/> when it lies on hugetlbfs (a memfd made with MFD_HUGETLB, whatever its
    /// huge page size), 0 otherwise.
    /// </summary>
    public static long HugePageSizeOf(int fd)
    {
        const long HugetlbfsMagic = 0x958458f6;
        // struct statfs is 120 bytes on x86-64 and arm64: f_type, then f_bsize (the huge page size there), both longs.
        byte* statfs = stackalloc byte[256];
        if (Fstatfs(fd, statfs) != 0) throw Failure("fstatfs");
        return ((long*)statfs)[0] == HugetlbfsMagic ? ((long*)statfs)[1] : 0;
    }

    /// <summary>The seals of <paramref name="fd"/>, or -1 when it cannot carry any (not a memfd).</summary>
    public static int Seals(int fd) => Fcntl(fd, FGetSeals, 0);

    /// <summary>The size of the file behind <paramref name="fd"/>.</summary>
    public static long SizeOf(int fd)
    {
        long size = Lseek(fd, 0, 2);
        if (size < 0) throw Failure("lseek");
        return size;
    }

    /// <summary>Maps <paramref name="bytes"/> of <paramref name="fd"/> shared, readable and writable.</summary>
    public static nint Map(int fd, long bytes)
    {
        nint address = TryMap(fd, bytes);
        if (address == -1) throw Failure("mmap");
        return address;
    }

    /// <summary>As <see cref="Map"/>, or -1 where the kernel refuses the mapping.</summary>
    public static nint TryMap(int fd, long bytes) => Mmap(0, (nuint)bytes, ProtRead | ProtWrite, MapShared, fd, 0);

    /// <summary>
    /// The size of the default huge page (Hugepagesize in /proc/meminfo), which a memfd with MFD_HUGETLB uses; 0 where
    /// the system has none.
    /// </summary>
    public static long HugePageBytes => s_hugePageBytes.Value;

    /// <summary>The system's pool of huge pages: HugePages_Total and HugePages_Free from /proc/meminfo.</summary>
    public static (long Total, long Free) HugePagePool() => (MemInfo("HugePages_Total:") ?? 0, MemInfo("HugePages_Free:") ?? 0);

    /// <summary>The number on a /proc/meminfo line that starts with <paramref name="field"/>, or null.</summary>
    private static long? MemInfo(string field)
    {
        foreach (var line in File.ReadLines("/proc/meminfo"))
        {
            if (!line.StartsWith(field, StringComparison.Ordinal)) continue;
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return parts.Length >= 2 && long.TryParse(parts[1], out long value) ? value : null;
        }
        return null;
    }

    /// <summary>
    /// Whether process <paramref name="pid"/> maps memfd <paramref name="name"/> in huge pages, from the KernelPageSize
    /// of its mappings in /proc/PID/smaps; null when it has no such mapping.
    /// </summary>
    public static bool? MapsInHugePages(int pid, string name)
    {
        bool? huge = null;
        bool inMapping = false;
        string hugeSize = $" {HugePageBytes / 1024} kB";
        foreach (var line in File.ReadLines($"/proc/{pid}/smaps"))
        {
            if (line.Length > 0 && char.IsAsciiHexDigit(line[0]) && line.Contains('-'))
                inMapping = line.Contains("/memfd:" + name + " ", StringComparison.Ordinal) || line.EndsWith("/memfd:" + name, StringComparison.Ordinal);
            else if (inMapping && line.StartsWith("KernelPageSize:", StringComparison.Ordinal))
                huge = (huge ?? true) && HugePageBytes > 0 && line.EndsWith(hugeSize, StringComparison.Ordinal);
        }
        return huge;
    }

    private static readonly Lazy<long> s_hugePageBytes = new(() =>
    {
        try
        {
            return MemInfo("Hugepagesize:") is { } kib ? kib * 1024 : 0; // the line reads "Hugepagesize: 2048 kB"
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    });

    /// <summary>
    /// Maps every page of [<paramref name="address"/>, +<paramref name="bytes"/>) writable in one call, instead of one
    /// page fault per page on first touch (costly under a hypervisor). False where the kernel cannot; the pages then
    /// fault in as they are touched. <paramref name="address"/> must be page-aligned.
    /// </summary>
    public static bool Populate(nint address, long bytes) => Madvise(address, (nuint)bytes, MadvPopulateWrite) == 0;

    public static void Unmap(nint address, long bytes)
    {
        if (Munmap(address, (nuint)bytes) != 0) throw Failure("munmap");
    }

    /// <summary>Sends one byte carrying <paramref name="descriptor"/> (SCM_RIGHTS) on the connected socket <paramref name="socketFd"/>.</summary>
    public static void SendDescriptor(int socketFd, int descriptor, int timeoutMs)
    {
        byte payload = 0x46;
        byte* control = stackalloc byte[ControlBytes];
        new Span<byte>(control, ControlBytes).Clear();
        *(nuint*)control = ControlLengthOneFd;
        *(int*)(control + 8) = SolSocket;
        *(int*)(control + 12) = ScmRights;
        *(int*)(control + 16) = descriptor;
        var vector = new IoVector { Base = &payload, Length = 1 };
        var message = new MessageHeader { Vectors = &vector, VectorCount = 1, Control = control, ControlLength = ControlBytes };
        long deadline = Environment.TickCount64 + timeoutMs;
        while (true)
        {
            nint sent = SendMsg(socketFd, &message, MsgNoSignal);
            if (sent == 1) return;
            int errno = Marshal.GetLastPInvokeError();
            if (errno == EIntr) continue;
            if (errno != EAgain) throw Failure("sendmsg(SCM_RIGHTS)");
            WaitFor(socketFd, PollOut, deadline);
        }
    }

    /// <summary>
    /// Receives the one byte <see cref="SendDescriptor"/> sends and the descriptor it carries (close-on-exec), or
    /// -1 when the byte came without one. Waits at most <paramref name="timeoutMs"/>.
    /// </summary>
    public static int ReceiveDescriptor(int socketFd, int timeoutMs, CancellationToken cancellationToken)
    {
        byte payload = 0;
        byte* control = stackalloc byte[ControlBytes];
        long deadline = Environment.TickCount64 + timeoutMs;
        while (true)
        {
            new Span<byte>(control, ControlBytes).Clear();
            var vector = new IoVector { Base = &payload, Length = 1 };
            var message = new MessageHeader { Vectors = &vector, VectorCount = 1, Control = control, ControlLength = ControlBytes };
            nint received = RecvMsg(socketFd, &message, MsgCmsgCloexec);
            if (received == 0) throw new EndOfStreamException("the data socket closed before the descriptor arrived");
            if (received == 1)
            {
                bool carries = message.ControlLength >= ControlLengthOneFd && *(int*)(control + 8) == SolSocket && *(int*)(control + 12) == ScmRights;
                return carries ? *(int*)(control + 16) : -1;
            }
            int errno = Marshal.GetLastPInvokeError();
            if (errno == EIntr) continue;
            if (errno != EAgain) throw Failure("recvmsg(SCM_RIGHTS)");
            cancellationToken.ThrowIfCancellationRequested();
            WaitFor(socketFd, PollIn, deadline);
        }
    }

    /// <summary>Waits up to <paramref name="timeoutMs"/> for <paramref name="fd"/> to be readable (or closed, or failed).</summary>
    public static bool WaitReadable(int fd, int timeoutMs)
    {
        var poll = new PollFd { Fd = fd, Events = PollIn };
        int n = Poll(&poll, 1, timeoutMs);
        if (n < 0 && Marshal.GetLastPInvokeError() != EIntr) throw Failure("poll");
        return n > 0;
    }

    private static void WaitFor(int fd, short events, long deadline)
    {
        long left = deadline - Environment.TickCount64;
        if (left <= 0) throw new TimeoutException("the descriptor did not pass in time");
        var poll = new PollFd { Fd = fd, Events = events };
        // Short slices: the caller checks for cancellation between them.
        if (Poll(&poll, 1, (int)Math.Min(left, 100)) < 0 && Marshal.GetLastPInvokeError() != EIntr) throw Failure("poll");
    }
}
