"""Key custody: private keys never leave it; sign/decrypt by key reference; activation, escrow.

    from keystore import SoftKeyStore, KeyPolicy, Usage
    store = SoftKeyStore.from_home(home)            # locked
    store.unlock_with_passphrase(os.environ["ESEAL_PASSPHRASE"])
    ref = store.generate("agency-seal", Usage.SEAL, actor="admin")
    sig = store.sign(ref, tbs, actor="seal-service", role="seal")
"""
from keystore.base import KeyInfo, KeyStore
from keystore.errors import *  # noqa: F401,F403
from keystore.errors import KeyStoreError, KeyStoreLocked
from keystore.policy import KeyPolicy, Operation, Usage
from keystore.soft import InitResult, SoftKeyStore

__all__ = [
    "InitResult",
    "KeyInfo",
    "KeyPolicy",
    "KeyStore",
    "KeyStoreError",
    "KeyStoreLocked",
    "Operation",
    "SoftKeyStore",
    "Usage",
]
