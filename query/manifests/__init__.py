"""Export manifests: facts computed from the bytes, signing, the chain, the ledger, the audit."""
