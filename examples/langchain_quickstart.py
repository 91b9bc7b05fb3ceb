"""LangChain quickstart, offline on the embedded model: `python examples/langchain_quickstart.py`.

Needs: pip install "vs-integrations[langchain,local]"
"""

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from vs_integrations.langchain import ChatLocalModel, VerbalizedChatModel, VerbalizedSampler

prompt = ChatPromptTemplate.from_messages([("human", "Tell a joke about {topic}.")])

# 1. The sampler returns the whole distribution.
sampler = VerbalizedSampler(llm=ChatLocalModel(seed=0), k=5, on_failure="partial")
distribution = (prompt | sampler).invoke({"topic": "coffee"})
print(distribution.to_markdown())
print("drawn:", distribution.sample(seed=1).text)

# 2. Candidates stream as soon as each one is complete.
for candidate in (prompt | sampler).stream({"topic": "tea"}):
    print(f"streamed #{candidate.index}: {candidate.text}")

# 3. A drop-in chat model: the chain is unchanged, the answer is one VS draw.
chat = VerbalizedChatModel(llm=ChatLocalModel(seed=0), k=5, on_failure="partial", seed=7)
chain = prompt | chat | StrOutputParser()
for _ in range(3):
    print("chat model answer:", chain.invoke({"topic": "coffee"}))
