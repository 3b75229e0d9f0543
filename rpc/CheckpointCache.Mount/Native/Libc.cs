using System.Runtime.InteropServices;

namespace CheckpointCache.Mount.Native;

internal static partial class Libc
{
    public const int MntDetach = 2;

    [LibraryImport("libc", EntryPoint = "umount2", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Umount2(string target, int flags);
}
