# %% [markdown]
# # A notebook whose prose may run long: the page wraps Markdown, so this line is not code at all.

# %%
total = sum(range(10))
print(f"total {total}")
