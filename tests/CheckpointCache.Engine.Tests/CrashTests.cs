using System.Diagnostics;

namespace CheckpointCache.Engine.Tests;

/// <summary>kill -9 of a writing process: every committed value survives, nothing comes back torn.</summary>
public sealed class CrashTests : IDisposable
{
    private readonly TestFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Theory]
    [InlineData("kv", 23)]
    [InlineData("files", 41)]
    public async Task Committed_values_survive_kill_minus_9(string ns, int killAfterCommitted)
    {
        int committed = RunWriterAndKill(ns, killAfterCommitted);
        Assert.True(committed >= killAfterCommitted);

        await using var engine = await CacheEngine.OpenAsync(CrashData.Options(_folder.Path, ns, directIo: false));
        var store = engine.GetNamespace(ns);
        for (int i = 0; i < committed; i++)
        {
            using var got = await store.GetAsync(CrashData.Key(i));
            Assert.True(got != null, $"committed value {i} of {committed} is missing");
            Assert.True(CrashData.Value(i).AsSpan().SequenceEqual(got!.Span), $"committed value {i} differs");
        }
        // Writes after the last commit may be lost, but never returned torn.
        for (int i = committed; i < committed + 40; i++)
        {
            using var got = await store.GetAsync(CrashData.Key(i));
            if (got != null) Assert.True(CrashData.Value(i).AsSpan().SequenceEqual(got.Span), $"uncommitted value {i} came back torn");
        }
        Assert.Equal(0, store.GetStats().CorruptionEvents);
    }

    [Fact]
    public async Task Kept_checkpoints_survive_kill_minus_9_while_a_full_pinned_namespace_compacts()
    {
        // 6 values of ~400 KB average per checkpoint in 32 MiB: the namespace has filled and compacted several times by 40.
        int kept = RunWriterAndKill("rotate", 40, "kept ");
        Assert.True(kept >= 40);
        var options = CrashData.Options(_folder.Path, "files", directIo: false);
        options.Namespaces["files"].SsdBytes = CheckpointCache.Engine.Options.ByteSize.FromMiB(32);
        await using var engine = await CacheEngine.OpenAsync(options);
        var store = engine.GetNamespace("files");
        var quarantined = Directory.EnumerateDirectories(_folder.Path).Where(d => d.Contains("unrecoverable")).ToList();
        Assert.True(quarantined.Count == 0, "recovery failed: " + string.Join(",", quarantined) + " stats " + store.GetStats());
        // The writer may have gone on between printing "kept <kept>" and the kill: checkpoint c is deleted only after
        // c + 2 was committed, so the newest complete checkpoint h and the one before it must both be whole.
        var complete = new Dictionary<int, bool>();
        for (int c = Math.Max(0, kept - 12); c <= kept + 4; c++)
        {
            int present = 0;
            for (int p = 0; p < CrashData.Parts; p++)
            {
                using var got = await store.GetAsync(CrashData.PartKey(c, p));
                if (got == null) continue;
                // Whatever is there is never torn, committed or not.
                Assert.True(CrashData.Value(c * CrashData.Parts + p).AsSpan().SequenceEqual(got.Span), $"checkpoint {c} part {p} came back torn");
                present++;
            }
            complete[c] = present == CrashData.Parts;
        }
        int newest = complete.Where(x => x.Value).Select(x => x.Key).DefaultIfEmpty(-1).Max();
        Assert.True(newest >= kept, $"checkpoint {kept} was committed but the newest complete one is {newest}; stats {store.GetStats()}; partial {string.Join(",", complete.Where(x => !x.Value).Select(x => x.Key))}; files {string.Join(" ", Directory.EnumerateFiles(_folder.Path, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(_folder.Path, f) + ":" + new FileInfo(f).Length))}");
        Assert.True(complete[newest - 1], $"checkpoint {newest - 1} is incomplete although {newest + 1} was never committed");
        Assert.Equal(0, store.GetStats().CorruptionEvents);
        // And the namespace goes on rotating after the restart.
        // Keep only the newest complete checkpoint, as the job would, then go on rotating.
        foreach (var c in complete.Keys.Where(c => c != newest))
            for (int p = 0; p < CrashData.Parts; p++) await store.DeleteAsync(CrashData.PartKey(c, p));
        for (int c = kept + 5; c <= kept + 12; c++)
        {
            for (int p = 0; p < CrashData.Parts; p++) await store.PutAsync(CrashData.PartKey(c, p), CrashData.Value(c * CrashData.Parts + p));
            await store.CommitAsync();
            for (int p = 0; p < CrashData.Parts; p++) await store.DeleteAsync(CrashData.PartKey(c - 2, p));
        }
        Assert.Equal(0, store.GetStats().OutOfSpaceRejections);
    }

    private int RunWriterAndKill(string ns, int killAfterCommitted, string progress = "committed ")
    {
        var writer = Path.Combine(AppContext.BaseDirectory, "CheckpointCache.Engine.CrashWriter.dll");
        var psi = new ProcessStartInfo("dotnet", [writer, _folder.Path, ns]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var child = Process.Start(psi)!;
        var errors = new System.Text.StringBuilder();
        child.ErrorDataReceived += (_, e) => { lock (errors) errors.AppendLine(e.Data); };
        child.BeginErrorReadLine();
        int committed = 0;
        try
        {
            string? line;
            // A writer that stops making progress fails the test instead of hanging the suite.
            using var watchdog = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            while ((line = child.StandardOutput.ReadLineAsync(watchdog.Token).AsTask().GetAwaiter().GetResult()) != null)
            {
                if (line.StartsWith(progress, StringComparison.Ordinal))
                {
                    committed = int.Parse(line[progress.Length..]);
                    if (committed >= killAfterCommitted) break;
                }
            }
            Assert.True(line != null, "writer exited early: " + errors);
        }
        finally
        {
            child.Kill(entireProcessTree: true); // SIGKILL: no chance to flush or close anything
            child.WaitForExit();
        }
        // The writer ran on while this process read its output: what it printed before it died counts too.
        for (string? rest; (rest = child.StandardOutput.ReadLine()) != null;)
            if (rest.StartsWith(progress, StringComparison.Ordinal)) committed = Math.Max(committed, int.Parse(rest[progress.Length..]));
        return committed;
    }
}
