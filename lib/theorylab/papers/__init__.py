"""Code that serves one chapter only, one module per paper, named by the paper's bibkey in ``references.bib``.

A paper module is imported by its own chapter (and its unit test) and by no other chapter: when a second
chapter needs a piece, that piece moves into a shared module of ``theorylab`` (a test enforces this).

| module | chapter |
|---|---|
| ``deng2024sample`` | 7, linear constrained MDPs: generators, least-squares estimation, planning |
| ``li2024theory`` | 2, mixture of experts in continual learning |
| ``saxe2014exact`` | 64, exact dynamics of deep linear networks |
| ``han2024feature`` | 14, denoising objective and feature learning in diffusion models |
| ``advani2017high`` | 23, high-dimensional dynamics of generalization error |
| ``gao2024global`` | 17, mean-field residual attention |
| ``tao2024simple`` | 13, AdaGrad++ / Adam++ |
"""
