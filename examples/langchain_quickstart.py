"""LangChain quickstart, offline on the embedded model: `python examples/langchain_quickstart.py`.

Needs: pip install "vs-integrations[langchain,local]"
"""

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from vs_integrations.langchain import ChatLocalModel, VerbalizedChatModel, VerbalizedSampler, draw

prompt = ChatPromptTemplate.from_template("Tell me a joke about {topic}")

# 1. The sampler returns the whole distribution (the embedded model when `llm` is omitted).
sampler = VerbalizedSampler(llm=ChatLocalModel(seed=0), k=5)
distribution = (prompt | sampler).invoke({"topic": "coffee"})
print(distribution.to_markdown())
print("warnings:", distribution.warnings)

# 2. Streaming: each chunk is the distribution so far; `chunk.new` are the candidates it added.
for chunk in (prompt | sampler).stream({"topic": "tea"}):
    for candidate in chunk.new:
        print("streamed:", candidate.text)
print("final:", chunk.texts)

# 3. One drawn answer inside the chain (seeded: the same pick from the same distribution).
chain = prompt | sampler | draw(seed=1) | StrOutputParser()
print("drawn:", chain.invoke({"topic": "coffee"}))

# 4. A drop-in chat model: the chain is unchanged, the answer is one VS draw.
chat = VerbalizedChatModel(llm=ChatLocalModel(seed=0), k=5, seed=7)
chain = prompt | chat | StrOutputParser()
for _ in range(3):
    print("chat model answer:", chain.invoke({"topic": "coffee"}))
