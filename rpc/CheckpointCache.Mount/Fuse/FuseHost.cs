using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using CheckpointCache.Mount.FileSystem;
using CheckpointCache.Mount.Native;
using CheckpointCache.Mount.Options;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Mount.Fuse;

/// <summary>
/// Mounts with fuse_new + fuse_mount and serves with the multithreaded loop (not fuse_main, which
/// would fork and take over signals .NET owns). SIGTERM and SIGINT unmount (umount2, or fusermount3
/// when not root); the loop then returns and the mount is gone cleanly.
/// </summary>
internal sealed unsafe class FuseHost(MountOptions options, MountedFileSystem fs, ILogger logger)
{
    private IntPtr _fuse;
    private int _unmounting;

    public int Run()
    {
        var mountPoint = Path.GetFullPath(options.MountPoint);
        if (!Directory.Exists(mountPoint)) throw new InvalidOperationException($"mount point {mountPoint} does not exist");
        FuseCallbacks.Attach(fs, options);

        var optionList = $"fsname=checkpointcache:{options.Store},subtype=checkpointcache,max_read={options.MaxIoBytes}" + (options.AllowOther ? ",allow_other" : "");
        string[] argv = ["checkpointcache-mount", "-o", optionList];
        var strings = argv.Select(a => Marshal.StringToCoTaskMemUTF8(a)).ToArray();
        var argvPointer = (byte**)Marshal.AllocHGlobal(IntPtr.Size * (argv.Length + 1));
        for (int i = 0; i < argv.Length; i++) argvPointer[i] = (byte*)strings[i];
        argvPointer[argv.Length] = null;
        var args = new FuseArgs { Argc = argv.Length, Argv = argvPointer, Allocated = 0 };
        var operations = FuseCallbacks.Operations();
        IntPtr config = IntPtr.Zero;
        try
        {
            _fuse = Libfuse.FuseNew(&args, &operations, (nuint)sizeof(FuseOperations), IntPtr.Zero);
            if (_fuse == IntPtr.Zero) throw new InvalidOperationException("fuse_new failed (see the message above)");
            if (Libfuse.FuseMount(_fuse, mountPoint) != 0) throw new InvalidOperationException($"fuse_mount at {mountPoint} failed (is /dev/fuse there, and fuse3 installed?)");

            using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; Unmount(mountPoint); });
            using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; Unmount(mountPoint); });
            logger.LogInformation("Mounted store {Store} of {Endpoint} at {MountPoint} ({Threads} threads, {IoBytes}-byte requests, direct I/O)",
                options.Store, options.Endpoint, mountPoint, options.Threads, options.MaxIoBytes);

            _ = KernelReadAhead.RaiseAsync(mountPoint, options.KernelReadAheadKiB, logger);
            config = Libfuse.LoopConfigCreate();
            Libfuse.LoopConfigSetMaxThreads(config, (uint)options.Threads);
            // Keep every worker: a new thread attaches to the runtime, which costs more than an idle one.
            Libfuse.LoopConfigSetIdleThreads(config, (uint)options.Threads);
            int rc = Libfuse.FuseLoopMt(_fuse, config);
            logger.LogInformation("FUSE loop ended ({Code}); unmounting", rc);
            return 0;
        }
        finally
        {
            if (config != IntPtr.Zero) Libfuse.LoopConfigDestroy(config);
            fs.ReleaseAll();
            if (_fuse != IntPtr.Zero)
            {
                Libfuse.FuseUnmount(_fuse);
                Libfuse.FuseDestroy(_fuse);
            }
            foreach (var s in strings) Marshal.FreeCoTaskMem(s);
            Marshal.FreeHGlobal((IntPtr)argvPointer);
            logger.LogInformation("Unmounted {MountPoint}", mountPoint);
        }
    }

    private void Unmount(string mountPoint)
    {
        if (Interlocked.Exchange(ref _unmounting, 1) != 0) return;
        logger.LogInformation("Signal received: unmounting {MountPoint}", mountPoint);
        if (Libc.Umount2(mountPoint, Libc.MntDetach) == 0) return;
        // Not root: fusermount3 is setuid and may unmount what this user mounted.
        try
        {
            using var p = Process.Start(new ProcessStartInfo("fusermount3", ["-u", "-z", mountPoint]) { UseShellExecute = false });
            p?.WaitForExit();
        }
        catch (Exception e)
        {
            logger.LogError(e, "Could not unmount {MountPoint}; the loop is stopped instead", mountPoint);
            Libfuse.FuseExit(_fuse);
        }
    }
}
