# %% [markdown]
# # A notebook whose prose may run long: the page wraps Markdown, so this line is not code at all.

# %%
total = sum(range(10))
print(f"total {total}")

# %%
summary = {"adjusted_area_ha": 79.1, "ci95_ha": (70.5, 87.7), "classes": 6, "method": "Olofsson"}
