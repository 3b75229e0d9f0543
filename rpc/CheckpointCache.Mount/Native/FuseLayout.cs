namespace CheckpointCache.Mount.Native;

/// <summary>
/// Offsets into libfuse and Linux structs on x86_64 (checked against libfuse 3.14 headers in the
/// FUSE probe): written by offset because only a few fields matter and the structs hold bitfields.
/// </summary>
internal static unsafe class FuseLayout
{
    // struct fuse_file_info (40 bytes)
    public const int FileInfoFlags = 0;
    public const int FileInfoBits = 4;      // bit1 direct_io, bit2 keep_cache, bit4 nonseekable
    public const int FileInfoFh = 16;
    public const uint DirectIoBit = 1u << 1;

    // struct fuse_conn_info (uints)
    public const int ConnMaxWrite = 8;
    public const int ConnMaxRead = 12;
    public const int ConnMaxReadahead = 16;
    public const int ConnCapable = 20;
    public const int ConnWant = 24;
    public const int ConnMaxBackground = 28;
    public const int ConnCongestionThreshold = 32;
    public const uint CapAsyncRead = 1 << 0;
    public const uint CapAtomicOTrunc = 1 << 3;
    public const uint CapBigWrites = 1 << 5;
    public const uint CapAsyncDio = 1 << 15;
    public const uint CapParallelDirops = 1 << 18;

    // struct fuse_config
    public const int ConfigEntryTimeout = 24;
    public const int ConfigNegativeTimeout = 32;
    public const int ConfigAttrTimeout = 40;
    public const int ConfigHardRemove = 60;
    public const int ConfigUseIno = 64;
    public const int ConfigDirectIo = 72;
    public const int ConfigNullpathOk = 104;

    // struct stat (144 bytes)
    public const int StatSize = 144;
    public const int StatIno = 8;
    public const int StatNlink = 16;
    public const int StatMode = 24;
    public const int StatUid = 28;
    public const int StatGid = 32;
    public const int StatSizeField = 48;
    public const int StatBlksize = 56;
    public const int StatBlocks = 64;
    public const int StatAtime = 72;
    public const int StatMtime = 88;
    public const int StatCtime = 104;

    // struct statvfs (112 bytes)
    public const int StatVfsSize = 112;

    public const uint ModeDirectory = 0x4000; // S_IFDIR
    public const uint ModeRegular = 0x8000;   // S_IFREG

    public static ulong GetFh(void* fi) => fi == null ? 0 : *(ulong*)((byte*)fi + FileInfoFh);
    public static void SetFh(void* fi, ulong fh) => *(ulong*)((byte*)fi + FileInfoFh) = fh;
    public static int GetFlags(void* fi) => *(int*)((byte*)fi + FileInfoFlags);
    public static void SetDirectIo(void* fi) => *(uint*)((byte*)fi + FileInfoBits) |= DirectIoBit;
}
