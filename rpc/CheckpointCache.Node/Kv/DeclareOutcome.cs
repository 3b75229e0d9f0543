namespace CheckpointCache.Node;

public enum DeclareOutcome
{
    Created,
    AlreadyDeclared,
    LimitReached,
}
