namespace CheckpointCache.Node.Options;

/// <summary>Server certificate for the TCP listener; required before the node listens beyond loopback.</summary>
public sealed class TlsOptions
{
    /// <summary>PEM certificate (chain) file.</summary>
    public string CertificatePath { get; set; } = "";

    /// <summary>PEM private key file; empty when the certificate file holds the key too.</summary>
    public string KeyPath { get; set; } = "";

    public bool IsConfigured => !string.IsNullOrWhiteSpace(CertificatePath);
}
