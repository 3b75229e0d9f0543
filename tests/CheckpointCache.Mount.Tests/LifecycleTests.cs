using CheckpointCache.Mount.Tests.Infrastructure;

namespace CheckpointCache.Mount.Tests;

/// <summary>
/// What happens around the mount: the node restarting under it, unmount and remount, and a kill -9 of
/// the node in the middle of a copy. Each test has a node and a mount of its own.
/// </summary>
public sealed class LifecycleTests : IAsyncLifetime
{
    private NodeAndMount _setup = null!;

    public async Task InitializeAsync()
    {
        if (NodeAndMount.FuseAvailable) _setup = await NodeAndMount.StartAsync();
    }

    public async Task DisposeAsync()
    {
        if (_setup is not null) await _setup.DisposeAsync();
    }

    private string Mnt => _setup.MountPoint;
    private string Local => _setup.Scratch;

    private async Task<string> ScriptAsync(string name, string text)
    {
        var path = Path.Combine(Local, name);
        await File.WriteAllTextAsync(path, text);
        return path;
    }

    /// <summary>Holds files open across the restart: a reader, a writer that had synced, a writer with unsynced writes.</summary>
    private const string OpenAcrossRestart = """
        import os, sys, time
        mnt, marker = sys.argv[1], sys.argv[2]
        expected = open(os.path.join(sys.argv[3]), "rb").read()
        r = open(os.path.join(mnt, "a"), "rb")
        first = r.read(1024 * 1024)
        clean = open(os.path.join(mnt, "clean"), "wb")
        clean.write(b"1" * 3000000)
        clean.flush(); os.fsync(clean.fileno())
        dirty = open(os.path.join(mnt, "dirty"), "wb")
        dirty.write(b"2" * 3000000)
        dirty.flush()
        print("ready", flush=True)
        while not os.path.exists(marker):
            time.sleep(0.05)
        rest = r.read()
        print("reader", "ok" if first + rest == expected else "differs", flush=True)
        clean.write(b"3" * 1000)
        clean.close()
        print("clean closed", flush=True)
        try:
            dirty.write(b"4" * 1000)
            dirty.close()
            print("dirty closed", flush=True)
        except OSError as e:
            print("dirty", os.strerror(e.errno), flush=True)
        """;

    [FuseFact]
    public async Task The_node_restarting_under_a_live_mount_pauses_it_and_open_files_go_on()
    {
        await Shell.OkAsync($"head -c 7M /dev/urandom > {Local}/a && cp {Local}/a {Mnt}/a && echo hello > {Mnt}/b");
        var impatient = _setup.Directory.Folder("impatient");
        await _setup.StartMountAsync(impatient, retryTimeout: TimeSpan.FromSeconds(1));
        var marker = Path.Combine(Local, "go");
        var script = await ScriptAsync("open.py", OpenAcrossRestart);
        using var holder = ChildProcess.StartProgram("python3", [script, Mnt, marker, $"{Local}/a"], Local);
        await holder.WaitForLineAsync("ready");

        await _setup.Node!.TerminateAsync();
        // While the node is down: the patient mount waits, the impatient one (1 s) gives up with EIO.
        var listing = Shell.RunAsync($"ls {Mnt} && cat {Mnt}/b");
        var failed = await Shell.RunAsync($"stat {impatient}/b");
        Assert.NotEqual(0, failed.ExitCode);
        Assert.Contains("Input/output error", failed.Error);
        Assert.False(listing.IsCompleted, "an operation on the patient mount must wait for the node");

        await _setup.StartNodeAsync();
        var listed = await listing;
        Assert.True(listed.ExitCode == 0, listed.ToString());
        Assert.Equal("a\nb\nclean\ndirty\nhello", listed.Output);
        await Shell.OkAsync($"stat {impatient}/b");

        await File.WriteAllTextAsync(marker, "");
        Assert.Equal(0, await holder.WaitForExitAsync());
        var lines = holder.Lines;
        Assert.Contains("reader ok", lines);
        Assert.Contains("clean closed", lines);
        // Writes that were never committed died with the node's session: the writer hears it (EIO), not zeros.
        Assert.Contains("dirty Input/output error", lines);
        Assert.Equal(3001000L.ToString(), await Shell.OkAsync($"stat -c %s {Mnt}/clean"));
        Assert.Equal("0", await Shell.OkAsync($"stat -c %s {Mnt}/dirty"));
        // The mount is as usable as before.
        await Shell.OkAsync($"cp {Local}/a {Mnt}/after && cmp {Local}/a {Mnt}/after && cmp {Local}/a {Mnt}/a");
    }

    [FuseFact]
    public async Task Unmounting_on_SIGTERM_is_clean_and_a_new_mount_finds_the_data()
    {
        await Shell.OkAsync($"head -c 30M /dev/urandom > {Local}/x && mkdir -p {Mnt}/d/e && cp {Local}/x {Mnt}/d/e/x");
        Assert.Equal(0, await _setup.Mount!.TerminateAsync());
        Assert.NotEqual(0, (await Shell.RunAsync($"mountpoint -q {Mnt}")).ExitCode);
        Assert.Equal("", await Shell.OkAsync($"ls {Mnt}"));

        await _setup.StartMountAsync();
        await Shell.OkAsync($"cmp {Local}/x {Mnt}/d/e/x");
        // And across a node restart as well.
        await _setup.Node!.TerminateAsync();
        await _setup.StartNodeAsync();
        await Shell.OkAsync($"cmp {Local}/x {Mnt}/d/e/x");
    }

    private const string Copier = """
        import os, sys
        src, dst, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
        for i in range(count):
            try:
                with open(src, "rb") as s, open(os.path.join(dst, f"f{i}"), "wb") as d:
                    while True:
                        chunk = s.read(1024 * 1024)
                        if not chunk:
                            break
                        d.write(chunk)
                print("closed", i, flush=True)
            except OSError as e:
                print("failed", i, os.strerror(e.errno), flush=True)
        print("done", flush=True)
        """;

    [FuseFact]
    public async Task Killing_the_node_during_a_copy_keeps_every_closed_file_and_tears_none()
    {
        const int files = 10;
        await Shell.OkAsync($"head -c 24M /dev/urandom > {Local}/src && mkdir {Mnt}/copy");
        var script = await ScriptAsync("copy.py", Copier);
        using var copier = ChildProcess.StartProgram("python3", [script, $"{Local}/src", $"{Mnt}/copy", files.ToString()], Local);
        await copier.WaitForLineAsync("closed 2");
        await _setup.Node!.KillAsync();
        await _setup.StartNodeAsync();
        await copier.WaitForLineAsync("done");
        Assert.Equal(0, await copier.WaitForExitAsync());

        var closed = copier.Lines.Where(l => l.StartsWith("closed ", StringComparison.Ordinal)).Select(l => int.Parse(l[7..])).ToHashSet();
        Assert.True(closed.Count >= 3);
        long size = new FileInfo($"{Local}/src").Length;
        for (int i = 0; i < files; i++)
        {
            var path = $"{Mnt}/copy/f{i}";
            if (closed.Contains(i))
            {
                await Shell.OkAsync($"cmp {Local}/src {path}");
                continue;
            }
            // Not torn: absent, empty (created, never committed), or whole.
            if (!File.Exists(path)) continue;
            long length = new FileInfo(path).Length;
            Assert.True(length == 0 || length == size, $"f{i} has {length} bytes: torn");
            if (length == size) await Shell.OkAsync($"cmp {Local}/src {path}");
        }
        // The mount is as usable as before.
        await Shell.OkAsync($"cp {Local}/src {Mnt}/after && cmp {Local}/src {Mnt}/after");
    }
}
