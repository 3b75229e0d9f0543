namespace CheckpointCache.Cluster.Membership;

/// <summary>Keeps this node in the member list and tells it who else is there.</summary>
public interface IMembership : IAsyncDisposable
{
    /// <summary>The latest view; <see cref="MemberView.Empty"/> until the first list arrived.</summary>
    MemberView Current { get; }

    /// <summary>Raised (on a background thread) whenever the set of members or their endpoints changed.</summary>
    event Action<MemberView>? Changed;

    /// <summary>Registers <paramref name="self"/> and starts following the member list; returns once the first view is known.</summary>
    Task StartAsync(Member self, CancellationToken cancellationToken);
}
