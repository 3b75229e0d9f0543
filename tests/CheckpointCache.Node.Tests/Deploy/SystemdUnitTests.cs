using System.Text.RegularExpressions;
using CheckpointCache.Node.Tests.Infrastructure;

namespace CheckpointCache.Node.Tests.Deploy;

/// <summary>
/// deploy/systemd units as deploy/install.sh installs them, checked by `systemd-analyze verify` in a scratch root
/// (the host's own systemd units copied in, the installed binaries as stubs). verify reports unknown keys and bad
/// values only as warnings with exit code 0, so any output at all fails the check; the broken-unit tests show
/// that it does.
/// </summary>
public sealed partial class SystemdUnitTests
{
    private const string Analyze = "/usr/bin/systemd-analyze";
    private static readonly string[] Units = ["checkpointcache.service", "checkpointcache-mount.service"];

    [Fact]
    public async Task InstalledUnitsPassSystemdAnalyzeVerify()
    {
        using var root = await InstalledRootAsync();
        var verify = await VerifyAsync(root.Path);
        Assert.True(verify.ExitCode == 0 && verify.Output.Length == 0, $"systemd-analyze verify (exit {verify.ExitCode}):\n{verify.Output}");

        // The install laid out what the units name.
        Assert.True(File.Exists(root.Of("opt/checkpointcache/current/checkpointcache")));
        // The service user (not the installer) runs it.
        if (OperatingSystem.IsWindows()) return;
        var release = Assert.Single(Directory.GetDirectories(root.Of("opt/checkpointcache/releases")));
        var mode = File.GetUnixFileMode(release);
        Assert.True(mode.HasFlag(UnixFileMode.OtherRead | UnixFileMode.OtherExecute), $"the release folder is {mode}");
        Assert.True(File.Exists(root.Of("etc/checkpointcache/appsettings.json")));
        Assert.True(Directory.Exists(root.Of("var/lib/checkpointcache")));
        Assert.True(Directory.Exists(root.Of("mnt/checkpoints")));
    }

    [Fact]
    public void StopTimeoutsLeaveRoomForTheDrain()
    {
        var node = File.ReadAllText(RepoPaths.Of("deploy", "systemd", "checkpointcache.service"));
        var shutdown = new Options.NodeOptions().ShutdownTimeout;
        var configured = Regex.Match(File.ReadAllText(RepoPaths.Of("deploy", "systemd", "appsettings.json")), "\"ShutdownTimeout\": \"([^\"]+)\"").Groups[1].Value;
        Assert.Equal(shutdown, TimeSpan.Parse(configured));
        Assert.True(int.Parse(TimeoutStopSec().Match(node).Groups[1].Value) > shutdown.TotalSeconds, "TimeoutStopSec must exceed Node:ShutdownTimeout");
        Assert.Contains("KillSignal=SIGTERM", node);
        Assert.Contains("MemoryMax=", node);
        var mount = File.ReadAllText(RepoPaths.Of("deploy", "systemd", "checkpointcache-mount.service"));
        Assert.Contains("After=checkpointcache.service", mount);
        Assert.Contains("ExecStop=-/usr/bin/fusermount3 -u /mnt/checkpoints", mount);
    }

    [Theory]
    [InlineData("Restart=on-failure", "Restart=on-falure")]      // a bad value
    [InlineData("LimitNOFILE=1048576", "LimitNOFLIE=1048576")]   // an unknown key
    public async Task TheCheckFailsOnABrokenUnit(string good, string bad)
    {
        using var root = await InstalledRootAsync();
        var path = root.Of("etc/systemd/system/checkpointcache-mount.service");
        var text = File.ReadAllText(path);
        Assert.Contains(good, text);
        File.WriteAllText(path, text.Replace(good, bad));
        var verify = await VerifyAsync(root.Path);
        Assert.False(verify.ExitCode == 0 && verify.Output.Length == 0, $"systemd-analyze verify accepted a unit with '{bad}'");
    }

    [Fact]
    public async Task TheCheckFailsWhenTheBinaryIsMissing()
    {
        using var root = await InstalledRootAsync();
        File.Delete(root.Of("opt/checkpointcache/current/checkpointcache-mount"));
        var verify = await VerifyAsync(root.Path);
        Assert.NotEqual(0, verify.ExitCode);
        Assert.Contains("checkpointcache-mount", verify.Output);
    }

    /// <summary>A scratch root with the units installed by deploy/install.sh (DESTDIR) from a published folder of stubs.</summary>
    private static async Task<TestDirectory> InstalledRootAsync()
    {
        if (!File.Exists(Analyze)) Assert.Fail("systemd-analyze is not installed (scripts/test.sh installs Debian's systemd)");
        var root = new TestDirectory();
        try
        {
            var published = root.Of("_published");
            Shell.Executable(Path.Combine(published, "checkpointcache"));
            Shell.Executable(Path.Combine(published, "checkpointcache-mount"));
            // As a publish into a mktemp folder leaves it: the install must still make it readable to the service user.
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(published, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var install = await Shell.RunAsync("bash", [RepoPaths.Of("deploy", "install.sh"), "--published", published, "--no-system"],
                new Dictionary<string, string> { ["DESTDIR"] = root.Path });
            Assert.True(install.ExitCode == 0, "install.sh failed:\n" + install.Output);
            // What systemd itself brings (the targets the units are ordered against), and the tool the mount unit calls.
            Directory.CreateDirectory(root.Of("usr/lib/systemd"));
            var copy = await Shell.RunAsync("cp", ["-a", "/usr/lib/systemd/system", root.Of("usr/lib/systemd/")]);
            Assert.True(copy.ExitCode == 0, copy.Output);
            Shell.Executable(root.Of("usr/bin/fusermount3"));
            return root;
        }
        catch
        {
            root.Dispose();
            throw;
        }
    }

    private static Task<Shell.Result> VerifyAsync(string root) => Shell.RunAsync(Analyze, ["verify", $"--root={root}", .. Units]);

    [GeneratedRegex(@"(?m)^TimeoutStopSec=(\d+)$")]
    private static partial Regex TimeoutStopSec();
}
