using CheckpointCache.Rpc.Kv.V1;

namespace CheckpointCache.Client;

/// <summary>The longest cached prefix of the keys asked about, where each of its blocks lives, and how long it is pinned.</summary>
public sealed record LookupResult(int PrefixLength, IReadOnlyList<Tier> Tiers, DateTimeOffset? PinnedUntil);
