namespace CheckpointCache.Cluster.Options;

/// <summary>Placement of one engine store (Cluster:Stores:&lt;store&gt;).</summary>
public sealed class StorePlacementOptions
{
    public static readonly StorePlacementOptions LocalDefault = new();

    public PlacementKind Placement { get; set; } = PlacementKind.Local;

    /// <summary>Copies of each key on distinct members (hashed placement only).</summary>
    public int Replicas { get; set; } = 1;

    public bool IsHashed => Placement == PlacementKind.Hashed;
}
