using System.Text.Json;
using System.Text.RegularExpressions;

namespace CheckpointCache.Node.Tests.Deploy;

/// <summary>
/// deploy/kubernetes checked offline: every document against the Kubernetes JSON schemas and, strictly, against the
/// fields of its API types (deploy/validate, installed by scripts/test.sh with npm ci), broken copies rejected by the
/// same check (bad enum, wrong type, missing required field, misspelled field), and what the schemas cannot know:
/// probes on the node's health paths, propagation, the memory limit derived from the configured budgets.
/// </summary>
public sealed partial class KubernetesManifestTests
{
    private static string Manifest(string name) => RepoPaths.Of("deploy", "kubernetes", name);
    private static string[] Manifests => Directory.GetFiles(RepoPaths.Of("deploy", "kubernetes"), "*.yaml").Order(StringComparer.Ordinal).ToArray();

    [Fact]
    public async Task ManifestsAreValidAgainstTheKubernetesSchemas()
    {
        var result = await ValidateAsync(Manifests);
        Assert.True(result.ExitCode == 0, result.Output);
        foreach (var kind in new[] { "DaemonSet/checkpointcache: valid apps/v1 DaemonSet", "Service/checkpointcache-peers: valid v1 Service", "ConfigMap/checkpointcache-config: valid v1 ConfigMap", "Pod/training-example: valid v1 Pod" })
            Assert.Contains(kind, result.StandardOutput);
    }

    [Theory]
    [InlineData("mountPropagation: Bidirectional", "mountPropagation: Bidirectionl")]
    [InlineData("containerPort: 7401", "containerPort: seven-four-oh-one")]
    [InlineData("  template:", "  templat:\n    metadata: {}\n  x:")] // a DaemonSet without its required template
    [InlineData("mountPropagation: Bidirectional", "mountPropogation: Bidirectional")] // a misspelled field: dropped by the API server with only a warning
    [InlineData("terminationGracePeriodSeconds: 150", "terminationGracePeriodSecond: 150")]
    public async Task TheCheckRejectsABrokenManifest(string good, string bad)
    {
        var text = File.ReadAllText(Manifest("daemonset.yaml"));
        Assert.Contains(good, text);
        var path = Path.Combine(Path.GetTempPath(), $"ccbad-{Guid.NewGuid():N}.yaml");
        try
        {
            File.WriteAllText(path, text.Replace(good, bad));
            var result = await ValidateAsync([path]);
            Assert.True(result.ExitCode == 1, $"the validator accepted a DaemonSet with '{bad}':\n{result.Output}");
            Assert.Contains("INVALID", result.Output);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task DaemonSetMatchesTheNodeItRuns()
    {
        var docs = await DocumentsAsync(Manifests);
        var config = docs.Single(d => Kind(d) == "ConfigMap" && Name(d) == "checkpointcache-config").GetProperty("data").GetProperty("appsettings.json").GetString()!;
        var pod = docs.Single(d => Kind(d) == "DaemonSet").GetProperty("spec").GetProperty("template").GetProperty("spec");
        var node = pod.GetProperty("initContainers").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "node");
        var mount = pod.GetProperty("containers").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "mount");

        // The node runs as a native sidecar: started before the mount, stopped after it.
        Assert.Equal("Always", node.GetProperty("restartPolicy").GetString());

        // Memory: limit = request = the formula over the ConfigMap's budgets.
        var limits = node.GetProperty("resources").GetProperty("limits").GetProperty("memory").GetString();
        Assert.Equal($"{MemoryBudget.GiBFor(config)}Gi", limits);
        Assert.Equal(limits, node.GetProperty("resources").GetProperty("requests").GetProperty("memory").GetString());

        // Probes on the node's health endpoints, on the metrics port the ConfigMap opens beyond loopback.
        Assert.Equal("/healthz/live", node.GetProperty("livenessProbe").GetProperty("httpGet").GetProperty("path").GetString());
        Assert.Equal("/healthz/ready", node.GetProperty("readinessProbe").GetProperty("httpGet").GetProperty("path").GetString());
        using (var settings = JsonDocument.Parse(config))
        {
            var nodeSettings = settings.RootElement.GetProperty("Node");
            Assert.Equal("0.0.0.0", nodeSettings.GetProperty("MetricsAddress").GetString());
            var metricsPort = node.GetProperty("ports").EnumerateArray().Single(p => p.GetProperty("name").GetString() == "metrics").GetProperty("containerPort").GetInt32();
            Assert.Equal(nodeSettings.GetProperty("MetricsPort").GetInt32(), metricsPort);
            // The grace period covers the mount's stop and the node's drain.
            var shutdown = TimeSpan.Parse(nodeSettings.GetProperty("ShutdownTimeout").GetString()!);
            Assert.True(pod.GetProperty("terminationGracePeriodSeconds").GetInt32() > shutdown.TotalSeconds);
        }

        // The mount: privileged, /dev/fuse, and its mount propagated back to the host.
        Assert.True(mount.GetProperty("securityContext").GetProperty("privileged").GetBoolean());
        Assert.Contains(mount.GetProperty("volumeMounts").EnumerateArray(), v => v.GetProperty("mountPath").GetString() == "/mnt/checkpoints" && v.GetProperty("mountPropagation").GetString() == "Bidirectional");
        Assert.Contains(mount.GetProperty("volumeMounts").EnumerateArray(), v => v.GetProperty("mountPath").GetString() == "/dev/fuse");

        // The consumer sees it with HostToContainer.
        var consumer = docs.Single(d => Kind(d) == "Pod").GetProperty("spec").GetProperty("containers")[0];
        Assert.Contains(consumer.GetProperty("volumeMounts").EnumerateArray(), v => v.GetProperty("mountPropagation").GetString() == "HostToContainer");

        // A headless Service for the peers, whose per-pod DNS names the nodes advertise (also before they are ready).
        var service = docs.Single(d => Kind(d) == "Service").GetProperty("spec");
        Assert.Equal("None", service.GetProperty("clusterIP").GetString());
        Assert.True(service.GetProperty("publishNotReadyAddresses").GetBoolean());
        var serviceName = docs.Single(d => Kind(d) == "Service").GetProperty("metadata").GetProperty("name").GetString();
        var start = string.Join(" ", node.GetProperty("args").EnumerateArray().Select(a => a.GetString()));
        Assert.Contains($"CCACHE_Cluster__AdvertiseAddress=\"$$(echo \"$POD_IP\" | tr . -).{serviceName}.$POD_NAMESPACE.svc.cluster.local\"", start);
        Assert.Contains("exec /app/checkpointcache serve", start);
        // The TLS files the ConfigMap names are where the DaemonSet mounts the peer certificate.
        using (var settings = JsonDocument.Parse(config))
        {
            var tls = settings.RootElement.GetProperty("Node").GetProperty("Tls");
            var mountPath = node.GetProperty("volumeMounts").EnumerateArray().Single(v => v.GetProperty("name").GetString() == "tls").GetProperty("mountPath").GetString();
            Assert.Equal($"{mountPath}/tls.crt", tls.GetProperty("CertificatePath").GetString());
            Assert.Equal($"{mountPath}/tls.key", tls.GetProperty("KeyPath").GetString());
        }
    }

    [Fact]
    public void SystemdMemoryMaxMatchesTheInstalledBudgets()
    {
        var config = File.ReadAllText(RepoPaths.Of("deploy", "systemd", "appsettings.json"));
        var unit = File.ReadAllText(RepoPaths.Of("deploy", "systemd", "checkpointcache.service"));
        Assert.Equal($"{MemoryBudget.GiBFor(config)}G", MemoryMax().Match(unit).Groups[1].Value);
    }

    private static string? Kind(JsonElement d) => d.GetProperty("kind").GetString();
    private static string? Name(JsonElement d) => d.GetProperty("metadata").GetProperty("name").GetString();

    private static async Task<List<JsonElement>> DocumentsAsync(string[] files)
    {
        var result = await RunAsync(["--json", .. files]);
        Assert.True(result.ExitCode == 0, result.Output);
        return JsonDocument.Parse(result.StandardOutput).RootElement.EnumerateArray().ToList();
    }

    private static Task<Shell.Result> ValidateAsync(string[] files) => RunAsync(files);

    private static Task<Shell.Result> RunAsync(string[] args)
    {
        var tool = RepoPaths.Of("deploy", "validate");
        if (!Directory.Exists(Path.Combine(tool, "node_modules", "kubernetes-models")))
            Assert.Fail("the manifest validator is not installed: scripts/test.sh runs 'npm ci --prefix deploy/validate'");
        return Shell.RunAsync("node", [Path.Combine(tool, "validate.mjs"), .. args]);
    }

    [GeneratedRegex(@"(?m)^MemoryMax=(\S+)$")]
    private static partial Regex MemoryMax();
}
