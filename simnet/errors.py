"""The human messages a node puts in its errors: TransactionError's and InstructionError's
Display texts, as in "Transaction simulation failed: Error processing Instruction 2: custom
program error: 0x1". Clients (web3.js, wallets) show them, and some match on them."""

from __future__ import annotations

from typing import Any

TRANSACTION = {
    "AccountInUse": "Account in use",
    "AccountLoadedTwice": "Account loaded twice",
    "AccountNotFound": "Attempt to debit an account but found no record of a prior credit.",
    "ProgramAccountNotFound": "Attempt to load a program that does not exist",
    "InsufficientFundsForFee": "Insufficient funds for fee",
    "InvalidAccountForFee": "This account may not be used to pay transaction fees",
    "AlreadyProcessed": "This transaction has already been processed",
    "BlockhashNotFound": "Blockhash not found",
    "CallChainTooDeep": "Loader call chain is too deep",
    "MissingSignatureForFee": "Transaction requires a fee but has no signature present",
    "InvalidAccountIndex": "Transaction contains an invalid account reference",
    "SignatureFailure": "Transaction did not pass signature verification",
    "InvalidProgramForExecution": "This program may not be used for executing instructions",
    "SanitizeFailure": "Transaction failed to sanitize accounts offsets correctly",
    "AddressLookupTableNotFound":
        "Transaction loads an address table account that doesn't exist",
    "InvalidAddressLookupTableOwner":
        "Transaction loads an address table account with an invalid owner",
    "InvalidAddressLookupTableData":
        "Transaction loads an address table account with invalid data",
    "InvalidAddressLookupTableIndex":
        "Transaction address table lookup uses an invalid index",
}

INSTRUCTION = {
    "GenericError": "generic instruction error",
    "InvalidArgument": "invalid program argument",
    "InvalidInstructionData": "invalid instruction data",
    "InvalidAccountData": "invalid account data for instruction",
    "AccountDataTooSmall": "account data too small for instruction",
    "InsufficientFunds": "insufficient funds for instruction",
    "IncorrectProgramId": "incorrect program id for instruction",
    "MissingRequiredSignature": "missing required signature for instruction",
    "AccountAlreadyInitialized": "instruction requires an uninitialized account",
    "UninitializedAccount": "instruction requires an initialized account",
    "ProgramFailedToComplete": "Program failed to complete",
    "ComputationalBudgetExceeded": "Computational budget exceeded",
    "InvalidAccountOwner": "Invalid account owner",
    "IllegalOwner": "Provided owner is not allowed",
    "ExternalAccountLamportSpend":
        "instruction spent from the balance of an account it does not own",
    "ReadonlyLamportChange": "instruction changed the balance of a read-only account",
    "ReadonlyDataModified": "instruction modified data of a read-only account",
    "UnbalancedInstruction": "sum of account balances before and after instruction do not match",
}


def describe(err: Any) -> str:
    """`err` in its JSON form ("BlockhashNotFound", {"InstructionError": [0, ...]}, ...)."""
    if isinstance(err, str):
        return TRANSACTION.get(err, err)
    if isinstance(err, dict) and "InstructionError" in err:
        index, inner = err["InstructionError"]
        return f"Error processing Instruction {index}: {_instruction(inner)}"
    if isinstance(err, dict) and "InsufficientFundsForRent" in err:
        index = err["InsufficientFundsForRent"]["account_index"]
        return f"Transaction results in an account ({index}) with insufficient funds for rent"
    return str(err)


def _instruction(inner: Any) -> str:
    if isinstance(inner, dict) and "Custom" in inner:
        return f"custom program error: {hex(inner['Custom'])}"
    if isinstance(inner, dict) and "BorshIoError" in inner:
        return f"Failed to serialize or deserialize account data: {inner['BorshIoError']}"
    return INSTRUCTION.get(inner, str(inner)) if isinstance(inner, str) else str(inner)
