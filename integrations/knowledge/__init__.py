"""The knowledge base: answers to common questions, kept as YAML files staff edit."""

from integrations.knowledge.files import (
    FileKnowledgeBase,
    KnowledgeEntry,
    KnowledgeFileError,
    default_knowledge_dir,
)

__all__ = ["FileKnowledgeBase", "KnowledgeEntry", "KnowledgeFileError", "default_knowledge_dir"]
