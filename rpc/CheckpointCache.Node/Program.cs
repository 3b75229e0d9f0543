// Node host: wired up by the node issue.
return 0;
