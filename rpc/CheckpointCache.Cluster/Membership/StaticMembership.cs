using CheckpointCache.Cluster.Options;

namespace CheckpointCache.Cluster.Membership;

/// <summary>A fixed member list from configuration. Every listed member counts as live: no failure detection.</summary>
public sealed class StaticMembership(IEnumerable<StaticMemberOptions> members) : IMembership
{
    private readonly MemberView _view = new(1, members.Select(m => new Member(m.Id, m.Peer, m.Labels)));

    public MemberView Current { get; private set; } = MemberView.Empty;

    public event Action<MemberView>? Changed;

    public Task StartAsync(Member self, CancellationToken cancellationToken)
    {
        Current = _view;
        Changed?.Invoke(_view);
        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
