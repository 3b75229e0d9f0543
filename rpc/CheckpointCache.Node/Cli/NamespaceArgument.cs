using System.Globalization;
using CheckpointCache.Client;
using CheckpointCache.Rpc.Kv.V1;

namespace CheckpointCache.Node.Cli;

/// <summary>
/// The NS argument of the CLI: "[store/]&lt;32 hex digits&gt;" names a declared namespace by id;
/// "[store/]model=...,dtype=...,tokens_per_block=16" is a descriptor that is declared (idempotently) first.
/// </summary>
internal static class NamespaceArgument
{
    public const string Help =
        "NS is [STORE/]ID (32 hex digits, a declared namespace) or [STORE/]DESCRIPTOR, a descriptor declared on the fly:\n" +
        "  model=M,revision=R,dtype=D,layout=L,tp=RANK/SIZE,tokens_per_block=N,extra=X  (fields may be left out; tp defaults to 0/1,\n" +
        "  tokens_per_block to 16). STORE defaults to kv.";

    public static async Task<KvNamespace> ResolveAsync(string text, CacheClient client, CancellationToken ct)
    {
        string store = "";
        var body = text;
        int slash = text.IndexOf('/');
        // A slash before any '=' separates the store; model names such as "org/model" come after "model=".
        if (slash > 0 && (text.IndexOf('=') < 0 || slash < text.IndexOf('=')))
        {
            store = text[..slash];
            body = text[(slash + 1)..];
        }
        if (body.Length == 32 && body.All(Uri.IsHexDigit))
            return new KvNamespace(store.Length == 0 ? "kv" : store, Convert.FromHexString(body));
        if (!body.Contains('='))
            throw new CliException($"'{text}' is neither a 32-hex-digit namespace id nor a descriptor (model=...,tokens_per_block=...)");
        return await client.DeclareNamespaceAsync(ParseDescriptor(body), store, ct);
    }

    public static NamespaceDescriptor ParseDescriptor(string body)
    {
        var d = new NamespaceDescriptor { TpSize = 1, TokensPerBlock = 16 };
        foreach (var part in body.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = part.IndexOf('=');
            if (eq <= 0) throw new CliException($"descriptor field '{part}' is not NAME=VALUE");
            var (name, value) = (part[..eq].Trim(), part[(eq + 1)..]);
            switch (name)
            {
                case "model": d.Model = value; break;
                case "revision": d.Revision = value; break;
                case "dtype": d.Dtype = value; break;
                case "layout": d.Layout = value; break;
                case "extra": d.Extra = value; break;
                case "tp_rank": d.TpRank = Number(name, value); break;
                case "tp_size": d.TpSize = Number(name, value); break;
                case "tokens_per_block" or "tpb": d.TokensPerBlock = Number(name, value); break;
                case "tp":
                    var rs = value.Split('/');
                    if (rs.Length != 2) throw new CliException($"tp must be RANK/SIZE, got '{value}'");
                    d.TpRank = Number("tp rank", rs[0]);
                    d.TpSize = Number("tp size", rs[1]);
                    break;
                default: throw new CliException($"unknown descriptor field '{name}' (model, revision, dtype, layout, tp, tp_rank, tp_size, tokens_per_block, extra)");
            }
        }
        return d;
    }

    private static uint Number(string name, string value)
        => uint.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : throw new CliException($"{name} must be a whole number, got '{value}'");
}
