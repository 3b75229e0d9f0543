using System.Diagnostics;
using System.Globalization;
using CheckpointCache.Client.Files;
using CheckpointCache.Rpc.Files.V1;

namespace CheckpointCache.Node.Cli;

/// <summary>Warms a node from the cloud tier: restores everything under a path prefix, with a progress bar.</summary>
internal static class PrefetchCommand
{
    public static readonly HashSet<string> Options = [.. ClientConnection.Options, "--store", "--parallelism"];

    public const string Help =
        "usage: checkpointcache prefetch PREFIX [--store S] [--parallelism N] [--endpoint E] [--timeout SECONDS]\n\n" +
        "Restores every object the cloud tier (Blob) holds under PREFIX (a path of a files store: it and everything\n" +
        "under it; '/' for the whole store) that the node does not hold yet, e.g. a model or the latest checkpoint onto a\n" +
        "new node. Shows a progress bar on a terminal (a line per 10% otherwise). Exit code 0 when every object is here,\n" +
        "1 when some failed, 2 on bad usage. --timeout bounds the whole prefetch (default: none).\n\n" +
        "  --store S          files store (default \"files\")\n" +
        "  --parallelism N    objects restored at once (default Cloud:PrefetchParallelism)\n" + ClientConnection.Help;

    public static async Task<int> RunAsync(CliArguments args, TextWriter output, TextWriter error)
    {
        if (args.Positionals.Count != 1) throw new CliException("prefetch needs PREFIX");
        uint parallelism = 0;
        if (args.Option("--parallelism") is { } p && (!uint.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out parallelism) || parallelism == 0))
            throw new CliException($"--parallelism must be a positive integer, got '{p}'");
        TimeSpan? timeout = null;
        if (args.Option("--timeout") is { } t)
        {
            if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) || seconds <= 0)
                throw new CliException($"--timeout must be a positive number of seconds, got '{t}'");
            timeout = TimeSpan.FromSeconds(seconds);
        }
        using var client = ClientConnection.Connect(args);
        using var files = new FilesClient(client);
        var bar = new ProgressBar(error, interactive: !Console.IsErrorRedirected);
        var last = await files.PrefetchAsync(args.Positionals[0], bar.Show, parallelism, args.Option("--store") ?? "", timeout);
        bar.Done();
        output.WriteLine($"prefetched {args.Positionals[0]}: {last.ObjectsDone - last.ObjectsSkipped - last.ObjectsFailed} restored, " +
                         $"{last.ObjectsSkipped} already here, {last.ObjectsFailed} failed, of {last.ObjectsTotal} objects ({StatusCommand.Size((ulong)last.BytesTotal)})");
        return last.ObjectsFailed > 0 ? 1 : 0;
    }

    /// <summary>One line redrawn in place on a terminal; otherwise a line per tenth, so logs stay short.</summary>
    private sealed class ProgressBar(TextWriter writer, bool interactive)
    {
        private const int Width = 30;
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private int _lastTenth = -1;
        private bool _drawn;

        public void Show(PrefetchProgress p)
        {
            double fraction = p.BytesTotal > 0 ? (double)p.BytesDone / p.BytesTotal : p.ObjectsTotal > 0 ? (double)p.ObjectsDone / p.ObjectsTotal : p.ListingDone ? 1 : 0;
            int filled = (int)Math.Round(fraction * Width);
            double rate = p.BytesDone / Math.Max(0.001, _clock.Elapsed.TotalSeconds);
            var line = $"[{new string('#', filled)}{new string('.', Width - filled)}] {fraction,4:P0} {p.ObjectsDone}/{p.ObjectsTotal} objects " +
                       $"{StatusCommand.Size((ulong)p.BytesDone)}/{StatusCommand.Size((ulong)p.BytesTotal)} {StatusCommand.Size((ulong)rate)}/s" +
                       (p.ObjectsFailed > 0 ? $" {p.ObjectsFailed} failed" : "");
            if (interactive)
            {
                writer.Write("\r" + line.PadRight(100));
                _drawn = true;
                return;
            }
            int tenth = (int)(fraction * 10);
            if (tenth == _lastTenth) return;
            _lastTenth = tenth;
            writer.WriteLine(line);
        }

        public void Done()
        {
            if (_drawn) writer.WriteLine();
        }
    }
}
