-- The texts int_text_chunks cut into no chunk: not blank, yet the model's tokenizer reads them as nothing (private-use
-- glyphs, lone combining marks). The one definition of "no model token": document_rejects and corpus_rejects
-- reject these as no_model_tokens; a title among them is left out of the interest features.
with units as (
    select * from {{ ref('int_text_units') }}
),

first_chunks as (
    select * from {{ ref('int_text_chunks') }}
    where chunk_index = 0
),

final as (
    select units.*
    from units
    left join first_chunks
        on first_chunks.source = units.source
        and first_chunks.source_id = units.source_id
        and first_chunks.source_position = units.source_position
    where first_chunks.source_position is null
)

select * from final
