namespace CheckpointCache.CloudTier.Options;

/// <summary>
/// The cloud tier, bound from the "Cloud" section. Off by default: then the node loads none of this assembly and
/// asks for no credential (the SSD-only mode of KV-cache offload). Every option is documented in docs/configuration.md.
/// </summary>
public sealed class CloudTierOptions
{
    public const string Section = "Cloud";

    public bool Enabled { get; set; }

    /// <summary>A storage connection string (account key or SAS; Azurite's for tests). Takes precedence over AccountUri.</summary>
    public string ConnectionString { get; set; } = "";

    /// <summary>The account's blob endpoint (https://ACCOUNT.blob.core.windows.net); authenticated with DefaultAzureCredential.</summary>
    public string AccountUri { get; set; } = "";

    public string Container { get; set; } = "checkpointcache";

    /// <summary>Create the container at the first upload when it does not exist (needs the right to; off when it is provisioned).</summary>
    public bool CreateContainer { get; set; } = true;

    /// <summary>Mode of every files store not listed under Stores: Writeback (lazy upload plus read-through) or CacheOnly (read-through only).</summary>
    public CloudMode Mode { get; set; } = CloudMode.Writeback;

    /// <summary>Which committed files are uploaded, for stores not listed under Stores.</summary>
    public PersistOptions Persist { get; set; } = new();

    /// <summary>Per files store: its mode and persist policy (each falls back to the ones above).</summary>
    public Dictionary<string, CloudStoreOptions> Stores { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Deleting or renaming away a persisted file also deletes its copy in Blob (else Blob keeps the last persisted copy).</summary>
    public bool DeleteRemoteOnDelete { get; set; }

    /// <summary>Requests per second this node sends to Blob, all operations together (0: unlimited).</summary>
    public double MaxRequestsPerSecond { get; set; } = 500;

    /// <summary>Bytes per second this node sends and receives, each way (0: unlimited).</summary>
    public long MaxBytesPerSecond { get; set; } = 1L << 30;

    /// <summary>Blocks of one object staged at once.</summary>
    public int UploadParallelism { get; set; } = 4;

    /// <summary>Objects uploaded at once per files store.</summary>
    public int ConcurrentUploads { get; set; } = 2;

    /// <summary>Size of a staged block; objects up to this size are one Put Blob request.</summary>
    public long BlockBytes { get; set; } = 16L << 20;

    /// <summary>Attempts of one request on 500/503/429/timeouts/connection failures before its object waits for the queue's retry.</summary>
    public int MaxAttempts { get; set; } = 5;

    public TimeSpan MinBackoff { get; set; } = TimeSpan.FromMilliseconds(200);
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Longest wait before a failed object upload or delete is tried again (the backlog waits, it is never dropped).</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Timeout of one HTTP request (a block upload included).</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(100);

    /// <summary>A path found absent in Blob is not asked about again for this long (stat of absent files would each cost a request).</summary>
    public TimeSpan NegativeCacheTime { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Objects restored at once by a Prefetch call that does not say.</summary>
    public int PrefetchParallelism { get; set; } = 4;

    public CloudMode ModeOf(string store) => Stores.TryGetValue(store, out var s) && s.Mode is { } m ? m : Mode;

    public PersistOptions PersistOf(string store) => Stores.TryGetValue(store, out var s) && s.Persist is { } p ? p : Persist;

    /// <summary>What is wrong with these options, one message each.</summary>
    public IEnumerable<string> Validate()
    {
        if (string.IsNullOrWhiteSpace(ConnectionString) && string.IsNullOrWhiteSpace(AccountUri))
            yield return "Cloud:Enabled is true but neither Cloud:ConnectionString nor Cloud:AccountUri is set";
        if (!string.IsNullOrWhiteSpace(AccountUri) && !Uri.TryCreate(AccountUri, UriKind.Absolute, out _))
            yield return $"Cloud:AccountUri '{AccountUri}' is not an absolute URI";
        if (string.IsNullOrWhiteSpace(Container) || Container.Length < 3 || Container.Length > 63 || Container.Any(c => !(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-')))
            yield return $"Cloud:Container '{Container}' must be 3-63 lower-case letters, digits and hyphens";
        if (MaxRequestsPerSecond < 0) yield return "Cloud:MaxRequestsPerSecond must not be negative";
        if (MaxBytesPerSecond < 0) yield return "Cloud:MaxBytesPerSecond must not be negative";
        if (UploadParallelism < 1 || UploadParallelism > 64) yield return "Cloud:UploadParallelism must be between 1 and 64";
        if (ConcurrentUploads < 1 || ConcurrentUploads > 64) yield return "Cloud:ConcurrentUploads must be between 1 and 64";
        if (BlockBytes < 64 * 1024 || BlockBytes > 4000L << 20) yield return "Cloud:BlockBytes must be between 64 KiB and 4000 MiB (Blob's block limit)";
        if (MaxAttempts < 1) yield return "Cloud:MaxAttempts must be at least 1";
        if (MinBackoff <= TimeSpan.Zero || MaxBackoff < MinBackoff) yield return "Cloud:MinBackoff must be positive and at most Cloud:MaxBackoff";
        if (PrefetchParallelism < 1) yield return "Cloud:PrefetchParallelism must be at least 1";
        foreach (var (store, s) in Stores.Select(kv => (kv.Key, kv.Value.Persist ?? Persist)).Append(("(default)", Persist)))
            foreach (var error in s.Validate()) yield return $"Cloud persist policy of {store}: {error}";
    }
}
