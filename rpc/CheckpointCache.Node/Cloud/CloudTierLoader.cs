using System.Runtime.CompilerServices;
using CheckpointCache.CloudTier.Blob;
using CheckpointCache.CloudTier.Options;
using CheckpointCache.Engine.Files;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Node.Cloud;

/// <summary>
/// The only place the node touches the cloud-tier assembly. The runtime loads an assembly when it compiles a method
/// that uses one of its types, so every such use is inside this class's methods, which the node calls only when
/// Cloud:Enabled is true: with the cloud tier off, neither CheckpointCache.CloudTier nor the Azure SDK is loaded
/// (the node tests check the process's mapped files) and no credential is asked for.
/// </summary>
internal static class CloudTierLoader
{
    /// <summary>Cloud:Enabled, read without binding the cloud tier's options type.</summary>
    public static bool IsEnabled(IConfiguration config) => config.GetValue<bool>(CloudSection + ":Enabled");

    public static int PrefetchParallelism(IConfiguration config) => Math.Max(1, config.GetValue(CloudSection + ":PrefetchParallelism", 4));

    private const string CloudSection = "Cloud";

    /// <summary>Builds the Blob cold tier from the "Cloud" section; configuration errors are added to <paramref name="errors"/>.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static IColdTier? Create(IConfiguration config, ILoggerFactory loggerFactory, List<string> errors, out string description)
    {
        var options = config.GetSection(CloudTierOptions.Section).Get<CloudTierOptions>() ?? new CloudTierOptions();
        description = "cloud tier off";
        errors.AddRange(options.Validate());
        if (errors.Count > 0) return null;
        var tier = new BlobColdTier(options, loggerFactory.CreateLogger("CheckpointCache.CloudTier"));
        description = $"cloud tier on ({tier.Endpoint}, container {tier.ContainerName}, mode {options.Mode}, persist {options.Persist.Kind})";
        return tier;
    }
}
