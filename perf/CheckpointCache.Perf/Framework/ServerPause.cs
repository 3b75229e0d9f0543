using System.ComponentModel;
using System.Runtime.InteropServices;

namespace CheckpointCache.Perf.Framework;

/// <summary>
/// Freezes a server between its phases (SIGSTOP, then SIGCONT), so servers running side by side on a small
/// machine take no CPU and do no disk work (timers, checkpoints, write-back) while another one is measured.
/// Their sockets stay open: the kernel keeps the connections while the process is stopped.
/// </summary>
public static partial class ServerPause
{
    private const int SigCont = 18;
    private const int SigStop = 19;

    public static void Pause(int pid) => Signal(pid, SigStop);

    public static void Resume(int pid) => Signal(pid, SigCont);

    private static void Signal(int pid, int signal)
    {
        if (Kill(pid, signal) != 0)
            throw new Win32Exception(Marshal.GetLastPInvokeError(), $"kill({pid}, {(signal == SigStop ? "SIGSTOP" : "SIGCONT")})");
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
