"""Pure canary library: divisions, courier formats, minting and matching. No web, no database."""
