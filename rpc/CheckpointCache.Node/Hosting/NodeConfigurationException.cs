namespace CheckpointCache.Node.Hosting;

/// <summary>The configuration cannot work; each error names the setting.</summary>
public sealed class NodeConfigurationException(IReadOnlyList<string> errors)
    : Exception("invalid configuration: " + string.Join("; ", errors))
{
    public IReadOnlyList<string> Errors { get; } = errors;
}
